import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { ChunkBuffers, fileChunks, isFileSource } from './file-chunks';

describe('fileChunks', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'file-chunks-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('cuts any file into chunks of exactly chunkSize bytes (the last may be shorter) that concatenate back to it', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 3000 }), fc.integer({ min: 1, max: 700 }), async (content, size) => {
        const path = join(dir, 'f');
        await writeFile(path, content);
        const buffers = new ChunkBuffers(size);
        const got: Buffer[] = [];
        for await (const chunk of fileChunks(path, buffers)) {
          got.push(Buffer.from(chunk)); // a copy: the buffer goes back to be reused
          buffers.give(chunk);
        }
        expect(got.slice(0, -1).every((c) => c.length === size)).toBe(true);
        expect(got.every((c) => c.length > 0 && c.length <= size)).toBe(true);
        expect(Buffer.concat(got).equals(Buffer.from(content))).toBe(true);
      }),
      { numRuns: 60 },
    );
  });

  it('reuses a buffer once it is given back, and never one that is still lent', async () => {
    const path = join(dir, 'g');
    const content = randomBytes(10 * 64);
    await writeFile(path, content);
    const buffers = new ChunkBuffers(64);
    const seen = new Set<ArrayBufferLike>();
    const held: Buffer[] = [];
    for await (const chunk of fileChunks(path, buffers)) {
      // Two chunks held at a time, and the next buffer taken only when the next chunk is asked for: two buffers in all.
      held.push(chunk);
      seen.add(chunk.buffer);
      if (held.length === 2) buffers.give(held.splice(0, 1)[0]);
    }
    expect(seen.size).toBe(2);
  });

  it('ignores what it did not lend, and a second give of the same buffer', () => {
    const buffers = new ChunkBuffers(16);
    const lent = buffers.take();
    buffers.give(Buffer.alloc(16));
    buffers.give(lent);
    buffers.give(lent);
    const again = buffers.take();
    expect(again.buffer).toBe(lent.buffer);
    expect(buffers.take().buffer).not.toBe(lent.buffer); // given twice, but only free once
  });

  it('reads a file smaller than a chunk into a buffer of its size, not a whole chunk', async () => {
    const path = join(dir, 'small');
    await writeFile(path, randomBytes(4096));
    const chunks: Buffer[] = [];
    for await (const chunk of fileChunks(path, new ChunkBuffers(4 * 1024 * 1024))) chunks.push(chunk);
    expect(chunks.map((c) => c.length)).toEqual([4096]);
    expect(chunks[0].buffer.byteLength).toBeLessThan(64 * 1024);
  });

  it('cuts whole chunks from a file that holds more than its size said (a pipe says 0)', async () => {
    const fifo = join(dir, 'pipe');
    execFileSync('mkfifo', [fifo]);
    const content = randomBytes(3 * 64 + 5);
    const writer = createWriteStream(fifo);
    writer.end(content);
    const got: Buffer[] = [];
    for await (const chunk of fileChunks(fifo, new ChunkBuffers(64))) got.push(Buffer.from(chunk));
    expect(got.map((c) => c.length)).toEqual([64, 64, 64, 5]);
    expect(Buffer.concat(got).equals(content)).toBe(true);
  });

  it('fails with the file system error for a missing file', async () => {
    const chunks = fileChunks(join(dir, 'missing'), new ChunkBuffers(8));
    await expect(chunks.next()).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('isFileSource', () => {
  it('is a plain {path}, not a stream that happens to have one (a file stream may start mid-file)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'file-source-'));
    try {
      await writeFile(join(dir, 'f'), 'abc');
      const stream = createReadStream(join(dir, 'f'), { start: 1 });
      expect(isFileSource({ path: join(dir, 'f') })).toBe(true);
      expect(isFileSource(stream)).toBe(false);
      stream.destroy();
      expect(isFileSource(Readable.from([Buffer.from('x')]))).toBe(false);
      expect(isFileSource(new Uint8Array(3))).toBe(false);
      expect(isFileSource({ path: 3 })).toBe(false);
      expect(isFileSource(null)).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
