import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PassThrough } from 'node:stream';
import { CairnError, type FileInfo } from '@cairn/protocol';
import { CairnClient, createProcessLogger, writeFileAtomically } from '@cairn/transfer';
import type { CommandContext } from './commands';
import { formatTreeSummary, getTree, putTree } from './tree-transfer';

/** A stored file whose content is its name. */
const stored = (name: string): FileInfo => ({ id: 1, name, size: name.length, sha256: 'a'.repeat(64), replicas: 1, chunkCount: 1, createdAt: 0, updatedAt: 0 });

/**
 * A client holding `names` (listed in name order, as the controller lists them) whose get of each
 * takes `delays[name]` ms before it writes, as the SDK does, through a temp file renamed over the path.
 */
function clientOf(names: string[], delays: Record<string, number> = {}, failure?: (name: string) => unknown): CairnClient {
  return {
    ls: async function* (prefix: string) {
      yield* [...names].sort().filter((name) => name.startsWith(prefix)).map(stored);
    },
    getToFile: async (name: string, dest: string) => {
      await sleep(delays[name] ?? 0);
      if (failure?.(name)) throw failure(name);
      await writeFileAtomically(dest, [Buffer.from(name)]);
      return stored(name);
    },
  } as unknown as CairnClient;
}

const context = (client: CairnClient): CommandContext => ({
  client,
  json: false,
  quiet: true,
  out: new PassThrough(),
  log: createProcessLogger({ level: 'warn', format: 'json', base: {}, destination: new PassThrough() }),
});

/** Every path under `dir`, files with their content, depth first. */
async function tree(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    const path = join(entry.parentPath, entry.name);
    found.push(entry.isFile() ? `${path.slice(dir.length + 1)} = ${await readFile(path, 'utf8')}` : `${path.slice(dir.length + 1)}/`);
  }
  return found.sort();
}

const failure = (work: Promise<unknown>) =>
  work.then(
    () => 'resolved',
    (err: CairnError) => `${err.message} (${err.code})`,
  );

describe('get -r', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-tree-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it.each([
    ['the file ends first', { 'x/a': 0, 'x/a/b': 30 }],
    ['the file ends last', { 'x/a': 30, 'x/a/b': 0 }],
  ])('a file that other names take for a directory (x/a, x/a/b): the first in name order is fetched, the other skipped, whichever ends first (%s)', async (_label, delays) => {
    const out = join(dir, 'out5');

    const summary = await getTree(context(clientOf(['x/a', 'x/a/b', 'x/c/d'], delays)), 'x', out);

    expect(summary).toMatchObject({ files: 2, skipped: ['x/a/b'] });
    expect(await tree(out)).toEqual(['a = x/a', 'c/', 'c/d = x/c/d']); // and no temp file left
  });

  it('into a regular file: E_USAGE, not a directory', async () => {
    const afile = join(dir, 'afile');
    await writeFile(afile, 'a');
    expect(await failure(getTree(context(clientOf(['t1/a'])), 't1', afile))).toBe(`cannot fetch into ${afile}: not a directory (E_USAGE)`);
  });

  it('a local write failing: one line naming the path in the tree (E_DISK), not the temp file; a file removed meanwhile is skipped', async () => {
    const denied = Object.assign(new Error(`EACCES: permission denied, open '${dir}/out/.a.cairn-63d47a496e87.tmp'`), { code: 'EACCES', errno: -13, syscall: 'open' });
    const out = join(dir, 'out');
    expect(await failure(getTree(context(clientOf(['x/a'], {}, () => denied)), 'x', out))).toBe(`cannot write ${join(out, 'a')}: permission denied (E_DISK)`);

    const removed = new CairnError('E_NOT_FOUND', 'no file named x/a');
    expect(await getTree(context(clientOf(['x/a', 'x/b'], {}, (name) => name === 'x/a' && removed)), 'x', out)).toMatchObject({ files: 1, skipped: ['x/a'] });
  });
});

describe('put -r', () => {
  it('of a directory that is not there: E_NOT_FOUND naming it', async () => {
    expect(await failure(putTree(context(clientOf([])), 'nonexist-tree-for-cairn', 't4'))).toBe('cannot read nonexist-tree-for-cairn: no such directory (E_NOT_FOUND)');
  });
});

describe('a tree transfer that fails midway', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-tree-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  const closed = () => new CairnError('E_UNAVAILABLE', 'connection closed (1006)');

  /** A context whose stdout and stderr are kept. */
  function watched(client: CairnClient, json = false) {
    const ctx = { ...context(client), json, out: new PassThrough(), err: new PassThrough() };
    const text = (stream: PassThrough) => {
      let got = '';
      stream.on('data', (chunk: Buffer) => (got += chunk.toString()));
      return () => got;
    };
    return { ctx, stdout: text(ctx.out), stderr: text(ctx.err) };
  }

  /**
   * A client whose puts from the `failFrom`th on fail (E_UNAVAILABLE), as with a controller killed then:
   * after sending their bytes, or (`sending: false`) before.
   */
  function putting(failFrom: number, { sending = true } = {}): CairnClient {
    let calls = 0;
    return {
      put: async (name: string, _source: unknown, options: { onProgress?: (p: { bytes: number; skippedChunks: number }) => void }) => {
        const call = ++calls;
        await sleep(5);
        if (call >= failFrom && !sending) throw closed();
        options.onProgress?.({ bytes: 5, skippedChunks: 0 });
        if (call >= failFrom) throw closed();
        return stored(name);
      },
    } as unknown as CairnClient;
  }

  async function sixFiles(): Promise<string> {
    const tree = join(dir, 'tree');
    await mkdir(tree);
    for (const n of [1, 2, 3, 4, 5, 6]) await writeFile(join(tree, `f${n}`), 'fiver');
    return tree;
  }

  it('put -r: says on stderr how many files and bytes it stored, and that running it again resumes; nothing on stdout, --json or not', async () => {
    const tree = await sixFiles();
    for (const json of [false, true]) {
      // 4 at a time: the first 3 are stored, the 4th fails, and no more are begun.
      const { ctx, stdout, stderr } = watched(putting(4), json);
      expect(await failure(putTree(ctx, tree, 'w2'))).toBe('connection closed (1006) (E_UNAVAILABLE)');
      expect(stderr()).toBe('cairn: put -r stored 3 files (15 B) before it stopped; running the same command again resumes: it skips the chunks already stored\n');
      expect(stdout()).toBe('');
    }
  });

  it('put -r: a failure before anything was sent stays the one error line', async () => {
    const { ctx, stderr } = watched(putting(1, { sending: false }));
    expect(await failure(putTree(ctx, await sixFiles(), 'w2'))).toBe('connection closed (1006) (E_UNAVAILABLE)');
    expect(stderr()).toBe('');
  });

  it('get -r: says how many files it fetched, each whole, and that running it again fetches them all again', async () => {
    const names = ['x/1', 'x/2', 'x/3', 'x/4']; // 4 at a time: all begun at once, the last to end fails
    const { ctx, stdout, stderr } = watched(clientOf(names, { 'x/4': 20 }, (name) => name === 'x/4' && closed()));
    expect(await failure(getTree(ctx, 'x', join(dir, 'out')))).toBe('connection closed (1006) (E_UNAVAILABLE)');
    expect(stderr()).toBe('cairn: get -r fetched 3 files (9 B) before it stopped, each one whole; running the same command again fetches them all again\n');
    expect(stdout()).toBe('');
    expect(await tree(join(dir, 'out'))).toEqual(['1 = x/1', '2 = x/2', '3 = x/3']);
  });

  it('get -r: a failure before any file was written stays the one error line', async () => {
    const { ctx, stderr } = watched(clientOf(['x/1'], {}, () => closed()));
    expect(await failure(getTree(ctx, 'x', join(dir, 'out')))).toBe('connection closed (1006) (E_UNAVAILABLE)');
    expect(stderr()).toBe('');
  });
});

describe('formatTreeSummary', () => {
  it('counts files in the singular where there is one', () => {
    expect(formatTreeSummary('fetched', { files: 1, bytes: 1, skipped: [], seconds: 0.5, skippedChunks: 1 })).toBe('fetched 1 file (1 B) in 0.5 s; skipped 1 chunk the nodes already had');
    expect(formatTreeSummary('stored', { files: 2, bytes: 0, skipped: ['a\\b', 'c'], seconds: 0 })).toBe('stored 2 files (0 B) in 0.0 s; skipped 2: a\\\\b, c');
  });
});
