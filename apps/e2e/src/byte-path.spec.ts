import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, createReadStream, openSync } from 'node:fs';
import { lstat, mkdir, readFile, readdir, symlink, writeFile } from 'node:fs/promises';
import { DEFAULT_CHUNK_SIZE } from '@cairn/protocol';
import { MAIN } from './support/processes';
import { TestCluster } from './support/test-cluster';
import { sha256, sha256File, writeRandomFile } from './support/files';

/** The first path of a byte, through the real CLI against a real controller and 3 nodes. */
describe('put and get through the CLI', () => {
  let cluster: TestCluster;

  beforeAll(async () => {
    cluster = await TestCluster.start({ nodes: 3, replicas: 2 });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  const sizes: Array<[string, number]> = [
    ['an empty file', 0],
    ['a 1-byte file', 1],
    ['exactly one chunk', DEFAULT_CHUNK_SIZE],
    ['one chunk and one byte', DEFAULT_CHUNK_SIZE + 1],
    ['64 MiB', 64 * 1024 * 1024],
  ];

  it.each(sizes)('round-trips %s bit-exact', async (_label, size) => {
    const src = join(cluster.root, `src-${size}.bin`);
    const expected = await writeRandomFile(src, size);
    const put = await cluster.cli(['put', src, `sizes/${size}.bin`, '--json']);
    expect(put.stderr).toBe('');
    expect(put.code).toBe(0);
    const info = JSON.parse(put.stdout.toString());
    expect(info).toMatchObject({ name: `sizes/${size}.bin`, size, sha256: expected, chunkCount: Math.ceil(size / DEFAULT_CHUNK_SIZE) });

    const dest = join(cluster.root, `dest-${size}.bin`);
    const get = await cluster.cli(['get', `sizes/${size}.bin`, dest]);
    expect(get.code).toBe(0);
    expect(await sha256File(dest)).toBe(expected);
  });

  it('stores names with spaces and UTF-8, and flags may follow the command', async () => {
    const name = 'fotos/été 2024/çà et là — ☃.txt';
    const content = Buffer.from('bonjour, Cairn\n');
    expect((await cluster.cli(['put', '-', name], { input: content })).code).toBe(0);
    const cat = await cluster.cli(['cat', name]);
    expect(cat.code).toBe(0);
    expect(cat.stdout.equals(content)).toBe(true);
    const stat = await cluster.cli(['stat', name, '--json']);
    expect(JSON.parse(stat.stdout.toString())).toMatchObject({ name, size: content.length, sha256: sha256(content) });
  });

  it('get defaults to the base name in the current directory, and get NAME - writes stdout', async () => {
    const content = Buffer.from('default destination');
    await cluster.cli(['put', '-', 'deep/path/leaf.txt'], { input: content });
    expect((await cluster.cli(['get', 'deep/path/leaf.txt'])).code).toBe(0);
    expect(await sha256File(join(cluster.root, 'leaf.txt'))).toBe(sha256(content));
    const out = await cluster.cli(['get', 'deep/path/leaf.txt', '-']);
    expect(out.stdout.equals(content)).toBe(true);
  });

  it('get into a directory saves under the base name; into a FIFO writes it in place and leaves it a FIFO', async () => {
    const content = randomBytes(5 * 1024 * 1024 + 17); // two chunks
    expect((await cluster.cli(['put', '-', 'where/to.bin'], { input: content })).code).toBe(0);

    const into = join(cluster.root, 'into-dir');
    await mkdir(into);
    expect((await cluster.cli(['get', 'where/to.bin', into])).code).toBe(0);
    expect(await readdir(into)).toEqual(['to.bin']);
    expect(await sha256File(join(into, 'to.bin'))).toBe(sha256(content));

    // A FIFO stands in for /dev/null, which an atomic rename replaced with a regular file when run as root.
    const fifo = join(cluster.root, 'get-fifo');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const read = (async () => {
      const parts: Buffer[] = [];
      for await (const part of createReadStream(fifo)) parts.push(part as Buffer);
      return Buffer.concat(parts);
    })();
    const get = await cluster.cli(['get', 'where/to.bin', fifo]);
    expect(get.stderr.toString()).toBe('');
    expect(get.code).toBe(0);
    expect((await read).equals(content)).toBe(true);
    expect((await lstat(fifo)).isFIFO()).toBe(true);
  });

  it('get to /dev/stdout is get NAME -: into a pipe, or a file (> and >>) at the offset of the shell, nothing else in the bytes', async () => {
    const content = Buffer.from('through /dev/stdout\n');
    expect((await cluster.cli(['put', '-', 'where/stdout.txt'], { input: content })).code).toBe(0);

    const piped = await cluster.cli(['get', 'where/stdout.txt', '/dev/stdout']);
    expect(piped.code).toBe(0);
    expect(piped.stdout.equals(content)).toBe(true);

    const log = join(cluster.root, 'redirected.log');
    for (const [flags, expected] of [['a', `before\n${content}`], ['w', `${content}`]] as const) {
      await writeFile(log, 'before\n');
      const inode = (await lstat(log)).ino;
      const fd = openSync(log, flags); // the shell's `>> redirected.log`, then `> redirected.log`
      try {
        const get = spawnSync(process.execPath, [MAIN.client, '--controller', cluster.controllerAddress, 'get', 'where/stdout.txt', '/dev/stdout'], {
          stdio: ['ignore', fd, 'pipe'],
          env: { ...withoutCairnSettings(process.env), CAIRN_TOKEN: cluster.adminToken },
          encoding: 'utf8',
          timeout: 60_000,
        });
        expect(get.stderr).toBe('');
        expect(get.status).toBe(0);
      } finally {
        closeSync(fd);
      }
      expect((await lstat(log)).ino).toBe(inode);
      expect(await readFile(log, 'utf8')).toBe(expected);
    }
  });

  it('cat into a reader that stops early (| head -c 1) ends quietly with status 0, no stack trace', async () => {
    const content = randomBytes(6 * 1024 * 1024); // more than a pipe holds
    expect((await cluster.cli(['put', '-', 'pipe/big.bin'], { input: content })).code).toBe(0);
    for (const args of [['cat', 'pipe/big.bin'], ['get', 'pipe/big.bin', '-']]) {
      const cut = await cluster.cli(args, { readBytes: 1 });
      expect(cut.stderr).toBe('');
      expect(cut.code).toBe(0);
    }
  });

  it('replaces an existing name atomically', async () => {
    await cluster.cli(['put', '-', 'replace/me.txt'], { input: Buffer.from('first version') });
    await cluster.cli(['put', '-', 'replace/me.txt'], { input: Buffer.from('second, longer version') });
    const cat = await cluster.cli(['cat', 'replace/me.txt']);
    expect(cat.stdout.toString()).toBe('second, longer version');
    const ls = JSON.parse((await cluster.cli(['ls', 'replace/', '--json'])).stdout.toString());
    expect(ls.map((f: { name: string }) => f.name)).toEqual(['replace/me.txt']);
  });

  it('lists by plain string prefix and removes files', async () => {
    for (const name of ['list/a.txt', 'list/b.txt', 'list/sub/c.txt', 'listing.txt', 'other/x.txt']) {
      expect((await cluster.cli(['put', '-', name], { input: Buffer.from(name) })).code).toBe(0);
    }
    const names = async (prefix: string) =>
      JSON.parse((await cluster.cli(['ls', prefix, '--json'])).stdout.toString()).map((f: { name: string }) => f.name);
    expect(await names('list/')).toEqual(['list/a.txt', 'list/b.txt', 'list/sub/c.txt']);
    expect(await names('list')).toEqual(['list/a.txt', 'list/b.txt', 'list/sub/c.txt', 'listing.txt']);

    expect((await cluster.cli(['rm', 'list/b.txt'])).code).toBe(0);
    expect(await names('list/')).toEqual(['list/a.txt', 'list/sub/c.txt']);
    const gone = await cluster.cli(['stat', 'list/b.txt']);
    expect(gone.code).toBe(3);
    expect(gone.stderr).toMatch(/E_NOT_FOUND/);
    expect(gone.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('stat --json shows every chunk on `replicas` distinct live nodes', async () => {
    // Different content for each: identical chunks are shared (content addressing) and would carry
    // the larger factor's replicas.
    for (const [name, flags] of [['three', ['--replicas', '3']], ['two', []]] as const) {
      const src = join(cluster.root, `stat-${name}.bin`);
      await writeRandomFile(src, 3 * DEFAULT_CHUNK_SIZE + 5);
      expect((await cluster.cli(['put', src, `stat/${name}.bin`, ...flags])).code).toBe(0);
    }
    const nodeIds = cluster.nodes.map((n) => n.id);
    for (const [name, replicas] of [['stat/three.bin', 3], ['stat/two.bin', 2]] as const) {
      const stat = JSON.parse((await cluster.cli(['stat', name, '--json'])).stdout.toString());
      expect(stat.replicas).toBe(replicas);
      expect(stat.chunks).toHaveLength(4);
      for (const chunk of stat.chunks) {
        expect(new Set(chunk.nodes).size).toBe(replicas);
        for (const id of chunk.nodes) expect(nodeIds).toContain(id);
      }
    }
    const status = JSON.parse((await cluster.cli(['status', '--json'])).stdout.toString());
    expect(status).toMatchObject({ nodes: { alive: 3, dead: 0 }, underReplicated: 0, lost: 0 });
  });

  it('refuses more replicas than live nodes with a clear error', async () => {
    const put = await cluster.cli(['put', '-', 'too/many', '--replicas', '4'], { input: Buffer.from('x') });
    expect(put.code).toBe(5);
    expect(put.stderr).toMatch(/E_NO_NODES/);
    expect((await cluster.cli(['stat', 'too/many'])).code).toBe(3);
  });

  it.each(['../x', 'a//b', '/abs', 'a/./b', 'nul\0byte'])('refuses the bad name %j and writes nothing', async (name) => {
    const before = await chunkCount(cluster);
    const filesBefore = (await cluster.cli(['ls', '', '--json'])).stdout.toString();
    const put = await cluster.cli(['put', '-', name], { input: Buffer.from('should never be stored') }).catch((e) => e);
    if (name.includes('\0')) {
      // argv cannot carry NUL at all; the SDK is the boundary that must refuse it.
      await expect(cluster.client().put(name, Buffer.from('x'))).rejects.toMatchObject({ code: 'E_NAME_INVALID' });
    } else {
      expect(put.code).toBe(2);
      expect(put.stderr).toMatch(/E_NAME_INVALID/);
      expect(put.stderr.trim().split('\n')).toHaveLength(1);
    }
    expect(await chunkCount(cluster)).toBe(before);
    expect((await cluster.cli(['ls', '', '--json'])).stdout.toString()).toBe(filesBefore);
  });

  it('put -r and get -r move a directory tree, never following symlinks out of it', async () => {
    const tree = join(cluster.root, 'tree');
    await mkdir(join(tree, 'a', 'b'), { recursive: true });
    const hashes = new Map<string, string>();
    for (const [rel, size] of [['top.txt', 10], ['a/one.bin', 3 * 1024 * 1024], ['a/b/two.bin', 5000], ['a/b/empty', 0]] as const) {
      hashes.set(rel, await writeRandomFile(join(tree, ...rel.split('/')), size));
    }
    await writeFile(join(cluster.root, 'outside-secret.txt'), 'not for the tree');
    await symlink(join(cluster.root, 'outside-secret.txt'), join(tree, 'a', 'link-out'));

    const put = await cluster.cli(['put', '-r', tree, 'trees/t1']);
    expect(put.code).toBe(0);
    expect(put.stdout.toString()).toMatch(/stored 4 files .* skipped 1/);
    const names = JSON.parse((await cluster.cli(['ls', 'trees/t1/', '--json'])).stdout.toString()).map((f: { name: string }) => f.name);
    expect(names.sort()).toEqual(['trees/t1/a/b/empty', 'trees/t1/a/b/two.bin', 'trees/t1/a/one.bin', 'trees/t1/top.txt']);

    const back = join(cluster.root, 'tree-back');
    const get = await cluster.cli(['get', '-r', 'trees/t1/', back]);
    expect(get.code).toBe(0);
    expect(get.stdout.toString()).toMatch(/fetched 4 files/);
    for (const [rel, hash] of hashes) expect(await sha256File(join(back, ...rel.split('/')))).toBe(hash);
    await expect(readdir(join(back, 'a'))).resolves.not.toContain('link-out');
  });

  it('get -r takes its prefix as a directory (not photos-old/… for photos), fetches a file named by it, and never writes two files to one path', async () => {
    for (const [name, body] of [['trees/t3/a.txt', 'a'], ['trees/t3/sub/b.txt', 'b'], ['trees/t3/..dots', 'dots'], ['trees/t3-old/c.txt', 'old'], ['trees/t3.tar', 'tar'], ['trees/t4', 'file'], ['trees/t4/t4', 'inside']]) {
      expect((await cluster.cli(['put', '-', name], { input: Buffer.from(body) })).code).toBe(0);
    }

    const back = join(cluster.root, 'tree-back-t3');
    const get = await cluster.cli(['get', '-r', 'trees/t3', back]);
    expect(get.code).toBe(0);
    expect(get.stdout.toString()).toMatch(/fetched 3 files/);
    expect((await readdir(back)).sort()).toEqual(['..dots', 'a.txt', 'sub']);
    expect(await readFile(join(back, 'sub', 'b.txt'), 'utf8')).toBe('b');

    const single = join(cluster.root, 'tree-back-tar');
    expect((await cluster.cli(['get', '-r', 'trees/t3.tar', single])).code).toBe(0);
    expect(await readdir(single)).toEqual(['t3.tar']);

    // `trees/t4` itself and `trees/t4/t4` both map to t4 under the directory: one is fetched, one listed as skipped.
    const both = join(cluster.root, 'tree-back-t4');
    const clash = await cluster.cli(['get', '-r', 'trees/t4', both]);
    expect(clash.code).toBe(0);
    expect(clash.stdout.toString()).toMatch(/fetched 1 file .* skipped 1: trees\/t4/);
    expect(['file', 'inside']).toContain(await readFile(join(both, 't4'), 'utf8'));
  });

  it('get -r writes nothing outside its directory through links already in it: one at a name is replaced, one on the way skips', async () => {
    await cluster.cli(['put', '-', 'trees/t2/file.txt'], { input: Buffer.from('from the tree') });
    await cluster.cli(['put', '-', 'trees/t2/sub/deep.txt'], { input: Buffer.from('from the tree too') });
    await cluster.cli(['put', '-', 'trees/t2/sub/x/y/deeper.txt'], { input: Buffer.from('nor this') });
    await cluster.cli(['put', '-', 'trees/t2/plain.txt'], { input: Buffer.from('plain') });
    const outside = join(cluster.root, 'outside-t2');
    await mkdir(outside);
    await writeFile(join(outside, 'victim.txt'), 'untouched');
    const back = join(cluster.root, 'tree-back-t2');
    await mkdir(back);
    await symlink(join(outside, 'victim.txt'), join(back, 'file.txt'));
    await symlink(outside, join(back, 'sub'));

    const get = await cluster.cli(['get', '-r', 'trees/t2/', back]);

    expect(get.code).toBe(0);
    expect(get.stdout.toString()).toMatch(/fetched 2 files .* skipped 2/);
    expect(await readFile(join(outside, 'victim.txt'), 'utf8')).toBe('untouched');
    expect(await readdir(outside)).toEqual(['victim.txt']); // no x/y made there either
    expect((await lstat(join(back, 'file.txt'))).isFile()).toBe(true);
    expect(await readFile(join(back, 'file.txt'), 'utf8')).toBe('from the tree');
    expect(await readFile(join(back, 'plain.txt'), 'utf8')).toBe('plain');
  });

  it('a get stopped by Ctrl-C (or SIGTERM) leaves no partial temp file, and ends by that signal', async () => {
    expect((await cluster.cli(['put', '-', 'interrupted.bin'], { input: randomBytes(1024 * 1024) })).code).toBe(0);
    const into = join(cluster.root, 'interrupted');
    await mkdir(into);
    // The nodes stopped (each time for well under the cluster's node timeout), the get has its temp
    // file open and waits for its first chunk: it is stopped there.
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      for (const node of cluster.nodes) node.proc.child.kill('SIGSTOP');
      const get = spawn(process.execPath, [MAIN.client, '--controller', cluster.controllerAddress, 'get', 'interrupted.bin', join(into, 'f.bin')], {
        stdio: 'ignore',
        env: { ...process.env, CAIRN_TOKEN: cluster.adminToken },
      });
      const exited = new Promise<[number | null, string | null]>((resolve) => get.once('exit', (code, sig) => resolve([code, sig])));
      try {
        while ((await readdir(into)).length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
        expect((await readdir(into))[0]).toMatch(/^\.f\.bin\.cairn-[0-9a-f]+\.tmp$/);

        get.kill(signal);

        expect(await exited).toEqual([null, signal]);
        expect(await readdir(into)).toEqual([]);
      } finally {
        if (get.exitCode === null && get.signalCode === null) get.kill('SIGKILL');
        for (const node of cluster.nodes) node.proc.child.kill('SIGCONT');
      }
    }
  });

  it('put into a name ending in / stores under the file\'s base name, as cp into a directory does', async () => {
    const local = join(cluster.root, 'holiday.jpg');
    await writeFile(local, 'sunny');

    const put = await cluster.cli(['put', local, 'albums/2026/']);

    expect(put.code).toBe(0);
    expect(put.stdout.toString()).toMatch(/^stored albums\/2026\/holiday\.jpg /);
    expect((await cluster.cli(['cat', 'albums/2026/holiday.jpg'])).stdout.toString()).toBe('sunny');
    const fromStdin = await cluster.cli(['put', '-', 'albums/'], { input: Buffer.from('x') });
    expect(fromStdin.code).toBe(2);
    expect(fromStdin.stderr).toMatch(/needs a name.*\(E_USAGE\)/);
  });

  it('prints a name holding a newline or an escape sequence written out, on one line, and as it is in --json', async () => {
    const name = 'odd/two\nlines \u001b[31mred';
    expect((await cluster.cli(['put', '-', name], { input: Buffer.from('x') })).code).toBe(0);

    const ls = (await cluster.cli(['ls', 'odd/'])).stdout.toString();
    expect(ls.trimEnd().split('\n')).toHaveLength(1);
    expect(ls).toContain('odd/two\\nlines \\x1b[31mred');
    expect(ls).not.toContain('\u001b');
    const json = JSON.parse((await cluster.cli(['ls', 'odd/', '--json'])).stdout.toString());
    expect(json.map((f: { name: string }) => f.name)).toEqual([name]);
    const missing = await cluster.cli(['stat', 'odd/\u001b]0;title\u0007']);
    expect(missing.code).toBe(3);
    expect(missing.stderr).not.toContain('\u0007');
    expect(missing.stderr).not.toContain('\u001b');
    expect(missing.stderr.trimEnd().split('\n')).toHaveLength(1);
  });

  it('exits non-zero with one line for usage errors and suggests commands', async () => {
    const typo = await cluster.cli(['sttus']);
    expect(typo.code).toBe(2);
    expect(typo.stderr.trim().split('\n').length).toBeLessThanOrEqual(2);
  });
});

/** Chunk files on every node (what `blanks/` holds for a while is the store's, not a chunk of its own). */
async function chunkCount(cluster: TestCluster): Promise<number> {
  let count = 0;
  const walk = async (dir: string) => {
    for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      if (e.isDirectory()) await walk(join(dir, e.name));
      else count++;
    }
  };
  for (const node of cluster.nodes) await walk(join(node.data, 'store', 'chunks'));
  return count;
}

function withoutCairnSettings(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([k]) => !k.startsWith('CAIRN_')));
}
