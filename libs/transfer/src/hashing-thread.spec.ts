import { createHash } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { chunkDigests } from './chunk-digests';
import { COLLECT_AFTER_SHARED_BYTES, HashingThread } from './hashing-thread';
import { HASH_ON_THREAD_FROM, wholeFileSha256 } from './running-sha256';

const MiB = 1024 * 1024;
const CHUNK = 4 * MiB;
/** Chunks a reader gets through in these tests: 128 MiB, none of them kept. */
const CHUNKS = 32;
/** What the thread may still hold of them once it is done: what it takes in between collections, far below the 128 MiB. */
const HELD_AT_MOST = COLLECT_AFTER_SHARED_BYTES;

let gc: () => void;
beforeAll(() => {
  // The process's flags as an application's usually are, without --expose-gc (another spec file of
  // this jest worker may have set it): the thread must find its collector on its own. A collector for
  // this thread is taken from a context created while the flag is set, as the thread does.
  setFlagsFromString('--no-expose-gc');
  setFlagsFromString('--expose-gc');
  gc = runInNewContext('gc') as () => void;
  setFlagsFromString('--no-expose-gc');
});

const closing: Array<() => void> = [];
afterEach(() => {
  for (const close of closing.splice(0)) close();
});

/** A chunk as a get receives it when its reader does not recycle: in a SharedArrayBuffer of its own. */
function freshChunk(fill: number): Buffer {
  return Buffer.from(new SharedArrayBuffer(CHUNK)).fill(fill);
}

/** Memory under ArrayBuffers, shared ones included, once this thread's garbage is collected. */
async function arrayBufferBytes(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
  return process.memoryUsage().arrayBuffers;
}

/**
 * Hands CHUNKS fresh chunks to `hash`, at most 4 waiting at once as a get has them, keeping none, and
 * says how much more memory is left under ArrayBuffers afterwards. Then three times `settle`, there all
 * along and big enough for the thread to collect after it: the collection after the first frees what
 * is left of the chunks, V8 gives their memory back on a thread of its own and has finished once the
 * next collection starts, and the answer to the third says that the second one has run.
 */
async function memoryLeftBy(hash: (chunk: Buffer) => Promise<unknown>): Promise<number> {
  const settle = Buffer.from(new SharedArrayBuffer(COLLECT_AFTER_SHARED_BYTES));
  const before = await arrayBufferBytes();
  const waiting: Array<Promise<unknown>> = [];
  for (let i = 0; i < CHUNKS; i++) {
    waiting.push(hash(freshChunk(i)));
    if (waiting.length === 4) await waiting.shift();
  }
  await Promise.all(waiting);
  for (let i = 0; i < 3; i++) await hash(settle);
  return (await arrayBufferBytes()) - before;
}

describe('HashingThread', () => {
  it('lets go of the shared memory of each chunk it has hashed (a reader that keeps nothing holds nothing)', async () => {
    const thread = new HashingThread();
    closing.push(() => thread.close(new Error('the test has ended')));
    const left = await memoryLeftBy((chunk) => thread.request({ bytes: chunk, alone: true }));
    expect(left).toBeLessThan(HELD_AT_MOST);
  });

  it('does so too in a process started with --expose-gc (the thread has gc already), leaving it set', async () => {
    setFlagsFromString('--expose-gc');
    try {
      const thread = new HashingThread();
      closing.push(() => thread.close(new Error('the test has ended')));
      const left = await memoryLeftBy((chunk) => thread.request({ bytes: chunk, alone: true }));
      expect(left).toBeLessThan(HELD_AT_MOST);
      expect(runInNewContext('typeof gc')).toBe('function');
    } finally {
      setFlagsFromString('--no-expose-gc');
    }
  });

  it('lets go too in each of several threads started at once (they take turns with the process-wide flag)', async () => {
    const threads = Array.from({ length: 4 }, () => new HashingThread());
    for (const thread of threads) closing.push(() => thread.close(new Error('the test has ended')));
    for (const thread of threads) {
      expect(await memoryLeftBy((chunk) => thread.request({ bytes: chunk, alone: true }))).toBeLessThan(HELD_AT_MOST);
    }
    expect(runInNewContext('typeof gc')).toBe('undefined');
  });

  it('gives the right answers while collecting, and leaves the flags of the process as they were', async () => {
    const thread = new HashingThread();
    closing.push(() => thread.close(new Error('the test has ended')));
    const chunks = [freshChunk(1), freshChunk(2), Buffer.from('not shared')];
    const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

    expect(await Promise.all(chunks.map((bytes) => thread.request({ bytes, alone: true })))).toEqual(chunks.map(sha256));
    for (const bytes of chunks) await thread.request({ bytes });
    expect(await thread.request({})).toBe(sha256(Buffer.concat(chunks)));
    expect(runInNewContext('typeof gc')).toBe('undefined');
  });
});

describe("a big get's hashing", () => {
  it("lets go of each chunk once it is checked (chunkDigests, a file with a manifest hash)", async () => {
    const digests = chunkDigests(HASH_ON_THREAD_FROM, CHUNK);
    closing.push(() => digests.close());
    const left = await memoryLeftBy((chunk) => digests.digest(chunk));
    expect(left).toBeLessThan(HELD_AT_MOST);
  });

  it('lets go of each chunk once it is in the whole-file hash (wholeFileSha256, a file without one)', async () => {
    const whole = wholeFileSha256(HASH_ON_THREAD_FROM);
    closing.push(() => whole.close());
    const left = await memoryLeftBy((chunk) => whole.update(chunk));
    expect(left).toBeLessThan(HELD_AT_MOST);
  });
});
