import { createHash, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { type ChunkDigests, chunkDigests, inlineChunkDigests } from './chunk-digests';
import { HashingThread } from './hashing-thread';
import { sharedBytes } from './testing/shared-bytes';

const BIG = 64 * 1024 * 1024;
const opened: ChunkDigests[] = [];
afterEach(() => {
  for (const digests of opened.splice(0)) digests.close();
  jest.restoreAllMocks();
});

function forSize(size: number, chunkSize = 4 << 20): ChunkDigests {
  const digests = chunkDigests(size, chunkSize);
  opened.push(digests);
  return digests;
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

describe('chunkDigests', () => {
  it("gives each chunk's own SHA-256, in shared or ordinary memory, many at once, on a thread or not", async () => {
    const threaded = forSize(BIG);
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ bytes: fc.uint8Array({ maxLength: 5000 }), inShared: fc.boolean(), offset: fc.nat(64) }), { maxLength: 8 }),
        async (chunks) => {
          const given = chunks.map(({ bytes, inShared, offset }) => (inShared ? sharedBytes(bytes, offset) : bytes));
          const want = given.map(sha256);
          expect(await Promise.all(given.map((c) => threaded.digest(c)))).toEqual(want);
          expect(await Promise.all(given.map((c) => inlineChunkDigests.digest(c)))).toEqual(want);
        },
      ),
      { numRuns: 20 },
    );
  });

  it('hashes on a thread only chunks of a big get that lie in shared memory (posting others would copy them)', async () => {
    const requests = jest.spyOn(HashingThread.prototype, 'request');
    const chunk = randomBytes(1 << 20);
    await forSize(BIG - 1).digest(sharedBytes(chunk));
    await forSize(BIG, (1 << 20) - 1).digest(sharedBytes(chunk)); // chunks that small are not received into shared memory
    expect(requests).not.toHaveBeenCalled();

    const big = forSize(BIG);
    expect(await big.digest(chunk)).toBe(sha256(chunk));
    expect(requests).not.toHaveBeenCalled();
    expect(await big.digest(sharedBytes(chunk))).toBe(sha256(chunk));
    expect(requests).toHaveBeenCalledTimes(1);
  });

  it('still gives the right digests once its thread has failed or been closed, hashing them here', async () => {
    const digests = forSize(BIG);
    const chunk = sharedBytes(randomBytes(4 << 20));
    const waiting = digests.digest(chunk);
    digests.close(); // while the thread may still be hashing it
    expect(await waiting).toBe(sha256(chunk));
    expect(await digests.digest(chunk)).toBe(sha256(chunk));

    jest.spyOn(HashingThread.prototype, 'request').mockRejectedValue(new Error('the hashing thread failed'));
    expect(await forSize(BIG).digest(chunk)).toBe(sha256(chunk));
  });
});
