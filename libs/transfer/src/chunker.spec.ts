import { createReadStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { fixedChunks } from './chunker';

async function* fromPieces(pieces: readonly Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const piece of pieces) yield piece;
}

async function collect(chunks: AsyncIterable<Buffer>): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const chunk of chunks) out.push(chunk);
  return out;
}

const pieces = fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 30 });
const chunkSize = fc.integer({ min: 1, max: 64 });

describe('fixedChunks', () => {
  it('cuts any input into chunks of exactly chunkSize bytes (the last may be shorter) that concatenate back to it', async () => {
    await fc.assert(
      fc.asyncProperty(pieces, chunkSize, async (input, size) => {
        const chunks = await collect(fixedChunks(fromPieces(input), size));
        const whole = Buffer.concat(input);

        // Held chunks keep their bytes while later ones are produced, so concatenating at the end works.
        expect(Buffer.concat(chunks).equals(whole)).toBe(true);
        chunks.slice(0, -1).forEach((chunk) => expect(chunk.length).toBe(size));
        if (chunks.length > 0) {
          const last = chunks[chunks.length - 1];
          expect(last.length).toBeGreaterThan(0);
          expect(last.length).toBeLessThanOrEqual(size);
        }
        expect(chunks.length).toBe(Math.ceil(whole.length / size));
      }),
      { numRuns: 200 },
    );
  });

  it('copies each piece as it arrives, so a source may reuse one buffer for every piece', async () => {
    await fc.assert(
      fc.asyncProperty(pieces, chunkSize, async (input, size) => {
        const reused = Buffer.alloc(200);
        async function* reusing(): AsyncGenerator<Uint8Array> {
          for (const piece of input) {
            reused.set(piece);
            yield reused.subarray(0, piece.length);
            reused.fill(0xee); // the next piece overwrites it
          }
        }
        const chunks = (await collect(fixedChunks(reusing(), size))).map((c) => Buffer.from(c));
        expect(Buffer.concat(chunks).equals(Buffer.concat(input))).toBe(true);
      }),
      { numRuns: 100 },
    );
  });

  it('gives a stream smaller than a chunk a buffer of its size, not a whole chunk', async () => {
    const [chunk] = await collect(fixedChunks(fromPieces([Buffer.alloc(4096, 7)]), 4 * 1024 * 1024));
    expect(chunk.length).toBe(4096);
    expect(chunk.buffer.byteLength).toBeLessThan(64 * 1024);
  });

  it('yields nothing for an empty input', async () => {
    expect(await collect(fixedChunks(fromPieces([]), 8))).toEqual([]);
    expect(await collect(fixedChunks(fromPieces([new Uint8Array(0), new Uint8Array(0)]), 8))).toEqual([]);
    expect(await collect(fixedChunks(Readable.from([]), 8))).toEqual([]);
  });

  it('accepts a Node Readable as its source', async () => {
    const data = Buffer.from('abcdefghijklmnopqrstuvwxyz');
    const chunks = await collect(fixedChunks(Readable.from([data.subarray(0, 5), data.subarray(5)]), 10));
    expect(chunks.map((c) => c.toString())).toEqual(['abcdefghij', 'klmnopqrst', 'uvwxyz']);
  });

  it('pulls the source lazily, only as fast as the consumer takes chunks', async () => {
    const size = 4;
    let reads = 0;
    async function* counting(): AsyncGenerator<Uint8Array> {
      for (let i = 0; i < 1000; i++) {
        reads++;
        yield Uint8Array.of(i & 0xff);
      }
    }

    const chunks = fixedChunks(counting(), size);
    for (let taken = 1; taken <= 5; taken++) {
      const next = await chunks.next();
      expect(next.done).toBe(false);
      // One-byte pieces: the n-th chunk needs exactly n × size reads; nothing is read ahead.
      expect(reads).toBe(taken * size);
    }
    await chunks.return(undefined);
    expect(reads).toBe(5 * size);
  });

  it('passes whole chunks of a file stream on without copying, and still cuts any file exactly', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'chunker-'));
    try {
      await fc.assert(
        fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), chunkSize, fc.integer({ min: 1, max: 128 }), async (content, size, readSize) => {
          const path = join(dir, 'f');
          await writeFile(path, content);
          const chunks = await collect(fixedChunks(createReadStream(path, { highWaterMark: readSize }), size));
          expect(Buffer.concat(chunks).equals(Buffer.from(content))).toBe(true);
          chunks.slice(0, -1).forEach((chunk) => expect(chunk.length).toBe(size));
        }),
        { numRuns: 60 },
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
