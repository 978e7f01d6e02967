import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TestCluster, waitUntil } from './support/test-cluster';

/**
 * What the CLI says about the local side of a transfer, through the real CLI against a real
 * controller and 3 nodes: one line on stderr naming the path as the user gave it, ending with a
 * stable code; `get -r` of names that clash on any file system, the same every run; and its counts
 * and names as a person reads them.
 */
describe('the CLI on local paths', () => {
  let cluster: TestCluster;
  /** The CLI's working directory: paths in its messages are the relative ones given to it. */
  let cwd: string;

  beforeAll(async () => {
    cluster = await TestCluster.start({ nodes: 3, replicas: 2 });
    cwd = join(cluster.root, 'work');
    await mkdir(join(cwd, 'f'), { recursive: true });
    await writeFile(join(cwd, 'f', 'z1'), 'the file x/a');
    await writeFile(join(cwd, 'f', 'm4'), 'the file x/a/b');
    await writeFile(join(cwd, 'f', 'm4m1'), 'the file x/c/d');
    await writeFile(join(cwd, 'afile'), 'a regular file');
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  const cli = (args: string[]) => cluster.cli(args, { cwd });

  /** Every path under `dir`, depth first, with `/` after a directory's. */
  const treeOf = async (dir: string) =>
    (await readdir(dir, { withFileTypes: true, recursive: true })).map((e) => `${join(e.parentPath, e.name).slice(dir.length + 1)}${e.isDirectory() ? '/' : ''}`).sort();

  it('get -r of a name that is a file and the directory of another (x/a, x/a/b): the first in name order, the same every run, no temp file left', async () => {
    for (const [file, name] of [['f/z1', 'x/a'], ['f/m4', 'x/a/b'], ['f/m4m1', 'x/c/d']]) expect((await cli(['put', file, name])).code).toBe(0);

    for (const run of [1, 2, 3]) {
      const out = `out${run}`;
      const get = await cli(['get', '-r', 'x', out]);
      expect({ code: get.code, stderr: get.stderr }).toEqual({ code: 0, stderr: '' });
      expect(get.stdout.toString()).toMatch(/^fetched 2 files \(.*\) in .* s; skipped 1: x\/a\/b\n$/);
      expect(await treeOf(join(cwd, out))).toEqual(['a', 'c/', 'c/d']);
      expect(await readFile(join(cwd, out, 'a'), 'utf8')).toBe('the file x/a');
    }
  });

  it.each([
    ['put of a file that is not there', ['put', 'nonexist.txt'], 'cannot read nonexist.txt: no such file (E_NOT_FOUND)', 3],
    ['put of a directory', ['put', 'f'], 'f is a directory: store a tree with put -r f <prefix> (E_USAGE)', 2],
    ['put -r of a directory that is not there', ['put', '-r', 'nonexist', 't4'], 'cannot read nonexist: no such directory (E_NOT_FOUND)', 3],
    ['get into a directory that is not there', ['get', 'x/a', 'nonexist/x'], 'cannot write nonexist/x: no such directory nonexist (E_NOT_FOUND)', 3],
    ['get -r into a regular file', ['get', '-r', 'x', 'afile'], 'cannot fetch into afile: not a directory (E_USAGE)', 2],
  ])('%s: one line naming the path as given, with a stable code', async (_label, args, message, code) => {
    const result = await cli(args);
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code, stderr: `cairn: ${message}\n` });
  });

  it('a local write the system refuses: E_DISK in the system\'s words, never the temp file\'s name', async () => {
    // sysfs takes no new files, whoever asks (root included): EACCES, or EROFS where it is mounted read-only.
    const result = await cli(['get', 'x/a', '/sys/cairn-x']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^cairn: cannot write \/sys\/cairn-x: (permission denied|read-only file system) \(E_DISK\)\n$/);
  });

  it('errors from the cluster keep their own code, whatever the local path', async () => {
    const result = await cli(['get', 'no/such/name', 'nonexist/x']);
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/^cairn: .*no\/such\/name.*\(E_NOT_FOUND\)\n$/);
    expect(result.stderr).not.toContain('cannot write');
  });

  it('counts one thing in the singular: 1 byte, 1 chunk, 1 replica, 1 file', async () => {
    await writeFile(join(cwd, 'one'), 'x');
    expect((await cli(['put', 'one', 'single/one', '--replicas', '1'])).stdout.toString()).toBe('stored single/one (1 byte, 1 chunk, 1 replica)\n');
    expect((await cli(['get', 'single/one', 'one-back'])).stdout.toString()).toMatch(/^saved single\/one to .*one-back \(1 byte\)\n$/);
    expect((await cli(['get', '-r', 'single', 'single-back'])).stdout.toString()).toMatch(/^fetched 1 file \(1 B\) in /);
  });

  it('human output tells a name holding a newline from one holding a backslash and an n; --json gives both as they are', async () => {
    const names = ['nl/a\nb', 'nl/a\\nb'];
    for (const name of names) expect((await cluster.cli(['put', '-', name], { input: Buffer.from(name) })).code).toBe(0);

    const lines = (await cli(['ls', 'nl/'])).stdout.toString().trimEnd().split('\n');
    expect(lines.map((line) => line.split('  ').pop())).toEqual(['nl/a\\nb', 'nl/a\\\\nb']);
    const listed = JSON.parse((await cli(['ls', 'nl/', '--json'])).stdout.toString()) as Array<{ name: string }>;
    expect(listed.map((f) => f.name)).toEqual(names);
  });

  // Last: it kills a node.
  it('stat and get of a chunk with no copy left say so: lost', async () => {
    expect((await cluster.cli(['put', '-', 'lost/one', '--replicas', '1'], { input: Buffer.from('x') })).code).toBe(0);
    const stat = JSON.parse((await cli(['stat', 'lost/one', '--json'])).stdout.toString()) as { chunks: Array<{ nodes: string[] }> };
    const holder = cluster.nodes.find((n) => n.id === stat.chunks[0].nodes[0]);
    if (!holder) throw new Error(`no node of the cluster holds the chunk: ${JSON.stringify(stat)}`);
    await cluster.killNode(holder.index);
    await waitUntil(async () => (await cluster.sdk.nodesInfo()).find((n) => n.id === holder.id)?.state === 'dead', 15_000);
    expect((await cli(['forget', holder.id])).code).toBe(0); // its copies are unlisted, in the background

    let shown = '';
    await waitUntil(async () => (shown = (await cli(['stat', 'lost/one'])).stdout.toString()).includes('on no live node (lost)'), 10_000);
    expect(shown).toMatch(/ {2}#0 [0-9a-f]{16}… 1 B on no live node \(lost\)\n$/);
    // A get says the chunk is lost, not that it could not be read from "0 replicas".
    const get = await cli(['get', 'lost/one', '-']);
    expect(get.code).not.toBe(0);
    expect(get.stderr).toMatch(/^cairn: .*chunk 0 has no copy left on any node \(lost\) \(E_UNAVAILABLE\)\n$/);
  });
});
