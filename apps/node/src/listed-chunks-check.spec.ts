import { createHash } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { CairnError, type Body } from '@cairn/protocol';
import { checkListedChunks, type ListedChunksLink } from './listed-chunks-check';
import { useTempStore } from './testing/temp-store';

const hashOf = (label: string) => createHash('sha256').update(label).digest('hex');
const log = pino({ level: 'silent' });

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
  const store = { looked: 0, has: async (hash: string) => (store.looked++, held.has(hash)) };
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
});
