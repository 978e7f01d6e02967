import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { CairnError, type Body } from '@cairn/protocol';
import { LISTED_CHECK_MAX_INTERVAL_MS, checkListedChunks, listedCheckIntervalMs, scheduleListedChunksCheck, type ListedChunksLink } from './listed-chunks-check';
import { useTempStore } from './testing/temp-store';

const hashOf = (label: string) => createHash('sha256').update(label).digest('hex');
const log = pino({ level: 'silent' });

type Line = { level: number; msg: string } & Record<string, unknown>;
const WARN = 40;
const ERROR = 50;

/** A logger whose lines the test reads. */
function capturingLog() {
  const lines: Line[] = [];
  return { lines, log: pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Line) }) };
}

/** A store directory as the fake stores below claim: `<dir>/chunks` there, as a real store makes it. */
let storeDir: string;
beforeAll(async () => {
  storeDir = await mkdtemp(join(tmpdir(), 'cairn-listed-fake-'));
  await mkdir(join(storeDir, 'chunks'));
});
afterAll(async () => {
  await rm(storeDir, { recursive: true, force: true });
});

/** A controller's list of this node's chunks, served in pages as `node.chunks` would, and the reports it got. */
function fakeLink(listed: string[], options: { failAfterPages?: number } = {}) {
  const sorted = [...listed].sort();
  const asked: Array<string | undefined> = [];
  const reported: Array<{ hash: string; reason: string }> = [];
  const link: ListedChunksLink = {
    async listedChunks(after, limit): Promise<Body<'node.chunk-page'>> {
      if (options.failAfterPages !== undefined && asked.length >= options.failAfterPages) throw new CairnError('E_UNAVAILABLE', 'link closed');
      asked.push(after);
      const hashes = sorted.filter((hash) => after === undefined || hash > after).slice(0, limit);
      return { hashes, next: hashes.length === limit ? hashes[limit - 1] : undefined };
    },
    notifyQuarantined: (hash, reason) => reported.push({ hash, reason }),
  };
  return { link, asked, reported };
}

/** A disk holding `present`, counting the lookups. */
function fakeStore(present: Iterable<string>) {
  const held = new Set(present);
  const store = { looked: 0, dir: storeDir, has: async (hash: string) => (store.looked++, held.has(hash)) };
  return store;
}

describe('checkListedChunks', () => {
  const hashes = Array.from({ length: 7 }, (_, i) => hashOf(`chunk ${i}`)).sort();

  it('reports the listed chunks missing from the disk, and no other, through every page', async () => {
    const gone = [hashes[1], hashes[5]];
    const { link, asked, reported } = fakeLink(hashes);
    const store = fakeStore(hashes.filter((hash) => !gone.includes(hash)));

    const round = await checkListedChunks({ link, store, log, signal: new AbortController().signal, pageSize: 3 });

    expect(reported).toEqual(gone.map((hash) => ({ hash, reason: 'missing' })));
    expect(asked).toEqual([undefined, hashes[2], hashes[5]]);
    expect(round).toEqual({ checked: 7, missing: 2, complete: true });
  });

  it('ends the round, without rejecting, when the controller cannot be asked', async () => {
    const { link, reported } = fakeLink(hashes, { failAfterPages: 1 });
    const store = fakeStore([]);

    const round = await checkListedChunks({ link, store, log, signal: new AbortController().signal, pageSize: 3 });

    expect(round).toEqual({ checked: 3, missing: 3, complete: false });
    expect(reported.map((r) => r.hash)).toEqual(hashes.slice(0, 3));
  });

  it('checks no faster than its rate, and stops at once when aborted, asking for no further page', async () => {
    const many = Array.from({ length: 150 }, (_, i) => hashOf(`many ${i}`));
    const { link, asked } = fakeLink(many);
    const store = fakeStore(many);
    const abort = new AbortController();

    // One check a second: after the first 100 (checked in one go) the next are due 100 s later.
    const running = checkListedChunks({ link, store, log, signal: abort.signal, checksPerSecond: 1, pageSize: 1000 });
    while (store.looked < 100) await sleep(5);
    await sleep(50);
    expect(store.looked).toBe(100);
    abort.abort();

    expect(await running).toEqual({ checked: 100, missing: 0, complete: false });
    expect(asked).toHaveLength(1);
  });

  it('asks nothing when aborted before it starts', async () => {
    const { link, asked } = fakeLink(hashes);
    const abort = new AbortController();
    abort.abort();

    expect(await checkListedChunks({ link, store: fakeStore([]), log, signal: abort.signal })).toEqual({ checked: 0, missing: 0, complete: false });
    expect(asked).toEqual([]);
  });

  it("logs a page's missing chunks in one line, naming a few of them", async () => {
    const many = Array.from({ length: 100 }, (_, i) => hashOf(`page ${i}`)).sort();
    const gone = [0, 10, 20, 30, 40, 50, 60, 70].map((i) => many[i]); // 8 of 100: files deleted, not a disk gone
    const { link, reported } = fakeLink(many);
    const { lines, log: capture } = capturingLog();

    const round = await checkListedChunks({ link, store: fakeStore(many.filter((hash) => !gone.includes(hash))), log: capture, signal: new AbortController().signal, checksPerSecond: 1e6 });

    expect(round).toEqual({ checked: 100, missing: 8, complete: true });
    expect(reported.map((r) => r.hash)).toEqual(gone);
    const warnings = lines.filter((line) => line.level >= WARN);
    expect(warnings).toEqual([expect.objectContaining({ level: WARN, missing: 8, pageChunks: 100, hashes: gone.slice(0, 5) })]);
    expect(warnings[0].msg).toBe('listed chunks missing from the disk, reported for repair: 8 of a page of 100');
  });

  it('reports nothing of a page with more than 10 chunks and 10% missing, and says once that the disk looks gone', async () => {
    const many = Array.from({ length: 25 }, (_, i) => hashOf(`gone ${i}`)).sort();
    const { link, asked, reported } = fakeLink(many);
    const { lines, log: capture } = capturingLog();
    // 11 of the first page of 20 gone: more than 10, and more than 10% of it.
    const store = fakeStore(many.slice(0, 9));

    const round = await checkListedChunks({ link, store, log: capture, signal: new AbortController().signal, pageSize: 20, checksPerSecond: 1e6 });

    expect(round).toEqual({ checked: 20, missing: 0, complete: false, halted: 'too-many-missing' });
    expect(reported).toEqual([]);
    expect(asked).toEqual([undefined]); // no further page
    expect(lines.filter((line) => line.level >= WARN)).toEqual([expect.objectContaining({ level: ERROR, missingInPage: 11, pageChunks: 20 })]);
    expect(lines.find((line) => line.level === ERROR)?.msg).toMatch(/^the data directory looks absent or damaged/);
  });

  it('reports a page with 10 missing, or more than 10 that are at most 10% of it', async () => {
    for (const [size, goneCount] of [[20, 10], [1000, 100]]) {
      const many = Array.from({ length: size }, (_, i) => hashOf(`share ${size} ${i}`)).sort();
      const { link, reported } = fakeLink(many);
      const round = await checkListedChunks({ link, store: fakeStore(many.slice(goneCount)), log, signal: new AbortController().signal, checksPerSecond: 1e6 });
      expect(round).toEqual({ checked: size, missing: goneCount, complete: true });
      expect(reported).toHaveLength(goneCount);
    }
  });

  it('reports nothing, and asks for no page, when the store has no chunk directory', async () => {
    const { link, asked, reported } = fakeLink(hashes);
    const { lines, log: capture } = capturingLog();
    const store = { ...fakeStore([]), dir: join(storeDir, 'not-mounted') };

    const round = await checkListedChunks({ link, store, log: capture, signal: new AbortController().signal });

    expect(round).toEqual({ checked: 0, missing: 0, complete: false, halted: 'no-chunk-directory' });
    expect([asked, reported]).toEqual([[], []]);
    expect(lines).toEqual([expect.objectContaining({ level: ERROR, dir: join(storeDir, 'not-mounted', 'chunks') })]);
    expect(lines[0].msg).toMatch(/^the data directory looks absent or damaged/);
  });
});

describe('scheduleListedChunksCheck', () => {
  it('checks every --scrub-interval, but at least hourly', () => {
    expect(listedCheckIntervalMs(10 * 60 * 1000)).toBe(10 * 60 * 1000);
    expect(listedCheckIntervalMs(24 * 60 * 60 * 1000)).toBe(LISTED_CHECK_MAX_INTERVAL_MS);
    expect(LISTED_CHECK_MAX_INTERVAL_MS).toBe(60 * 60 * 1000);
  });

  it('runs its first round one interval after the start, never two at once, and aborts the one under way on stop', async () => {
    let rounds = 0;
    let running = 0;
    let most = 0;
    let release!: () => void;
    const link: ListedChunksLink = {
      // Each round waits for the test on its first page, so the next would overlap if timed from the start.
      listedChunks: (_after, _limit, signal) =>
        new Promise((resolve, reject) => {
          rounds++;
          most = Math.max(most, ++running);
          let settled = false;
          const end = (then: () => void) => () => {
            if (settled) return;
            settled = true;
            running--;
            then();
          };
          release = end(() => resolve({ hashes: [], next: undefined }));
          signal.addEventListener('abort', end(() => reject(new CairnError('E_ABORTED', 'stopped'))), { once: true });
        }),
      notifyQuarantined: () => undefined,
    };
    const stop = scheduleListedChunksCheck({ link, store: fakeStore([]), log }, 20);
    try {
      await sleep(5);
      expect(rounds).toBe(0); // one interval after the start
      while (rounds < 1) await sleep(5);
      await sleep(80); // four intervals: a round timed from the last start would have begun
      expect(rounds).toBe(1);
      release();
      while (rounds < 2) await sleep(5);
      expect(most).toBe(1);
    } finally {
      stop();
    }
    await sleep(1);
    expect(running).toBe(0); // the round under way was aborted
    await sleep(60);
    expect(rounds).toBe(2);
  });
});

describe('checkListedChunks on a real chunk store', () => {
  const temp = useTempStore('cairn-listed-chunks-');

  it('finds a chunk file removed from the disk behind the store’s back', async () => {
    const contents = ['one', 'two', 'three'].map((text) => Buffer.from(text));
    const stored = contents.map((bytes) => createHash('sha256').update(bytes).digest('hex'));
    for (const [i, bytes] of contents.entries()) await temp.store.put(stored[i], bytes);
    await rm(join(temp.dir, 'chunks', stored[1].slice(0, 2), stored[1]));
    const { link, reported } = fakeLink(stored);

    const round = await checkListedChunks({ link, store: temp.store, log, signal: new AbortController().signal });

    expect(reported).toEqual([{ hash: stored[1], reason: 'missing' }]);
    expect(round).toEqual({ checked: 3, missing: 1, complete: true });
  });

  it('reports nothing when chunks/ is renamed away, as a dropped mount would leave it', async () => {
    const contents = ['one', 'two', 'three'].map((text) => Buffer.from(text));
    const stored = contents.map((bytes) => createHash('sha256').update(bytes).digest('hex'));
    for (const [i, bytes] of contents.entries()) await temp.store.put(stored[i], bytes);
    await rename(join(temp.dir, 'chunks'), join(temp.dir, 'chunks.away'));
    const { link, reported } = fakeLink(stored);

    const round = await checkListedChunks({ link, store: temp.store, log, signal: new AbortController().signal });

    expect(reported).toEqual([]);
    expect(round).toMatchObject({ missing: 0, halted: 'no-chunk-directory' });
  });
});
