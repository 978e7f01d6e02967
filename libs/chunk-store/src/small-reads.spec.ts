import { mkdirSync, mkdtempSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { NOT_A_REGULAR_FILE } from './disk-errors';
import { SMALL_READ_BYTES, readSmallChunk } from './small-reads';
import { Fifos } from './testing/fifos';

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

describe('readSmallChunk', () => {
  let dir: string;
  const fifos = new Fifos();
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cairn-small-reads-'));
  });
  afterEach(() => {
    fifos.releaseAll();
    rmSync(dir, { recursive: true, force: true });
  });

  function stored(data: Buffer): { file: string; hash: string } {
    const file = join(dir, 'chunk');
    writeFileSync(file, data);
    return { file, hash: sha256(data) };
  }

  it('returns a small chunk verified, read into the memory given when it fits', () => {
    const data = Buffer.from('a small chunk');
    const { file, hash } = stored(data);
    const into = new ArrayBuffer(64);

    const read = readSmallChunk(file, hash, into);

    expect(read?.equals(data)).toBe(true);
    expect(read?.buffer).toBe(into);
    expect(readSmallChunk(file, hash, new ArrayBuffer(4))?.equals(data)).toBe(true); // too small: memory of its own
    expect(readSmallChunk(file, hash)?.equals(data)).toBe(true);
  });

  it('reads an empty chunk, and one of exactly the limit', () => {
    for (const data of [Buffer.alloc(0), Buffer.alloc(SMALL_READ_BYTES, 7)]) {
      const { file, hash } = stored(data);
      expect(readSmallChunk(file, hash)?.equals(data)).toBe(true);
    }
  });

  it('leaves a chunk over the limit to the I/O threads: undefined, whatever its content', () => {
    const { file } = stored(Buffer.alloc(SMALL_READ_BYTES + 1, 1));
    expect(readSmallChunk(file, sha256(Buffer.from('anything')))).toBeUndefined();
  });

  it('throws ECORRUPT for bytes that do not match the hash, as the I/O threads do', () => {
    const data = Buffer.from('the bytes that were stored');
    const { file, hash } = stored(data);
    writeFileSync(file, Buffer.from('the bytes that rotted away'));
    expect(() => readSmallChunk(file, hash)).toThrow(expect.objectContaining({ code: 'ECORRUPT' }));
    truncateSync(file, 3);
    expect(() => readSmallChunk(file, hash)).toThrow(expect.objectContaining({ code: 'ECORRUPT' }));
  });

  it('with verify false, hands out the bytes on disk without hashing them', () => {
    const { file, hash } = stored(Buffer.from('the bytes that were stored'));
    const rotten = Buffer.from('the bytes that rotted away');
    writeFileSync(file, rotten);
    expect(readSmallChunk(file, hash, undefined, false)?.equals(rotten)).toBe(true);
    truncateSync(file, 3);
    expect(readSmallChunk(file, hash, undefined, false)?.equals(rotten.subarray(0, 3))).toBe(true);
  });

  it('refuses what is not a regular file without blocking or following it: a FIFO, a symbolic link, a directory', () => {
    const { file, hash } = stored(Buffer.from('a sound chunk'));
    const fifo = fifos.make(join(dir, 'fifo'));
    symlinkSync(file, join(dir, 'link'));
    mkdirSync(join(dir, 'directory'));

    expect(() => readSmallChunk(fifo, hash)).toThrow(expect.objectContaining({ code: NOT_A_REGULAR_FILE }));
    expect(() => readSmallChunk(join(dir, 'link'), hash)).toThrow(expect.objectContaining({ code: 'ELOOP' }));
    expect(() => readSmallChunk(join(dir, 'directory'), hash)).toThrow(expect.objectContaining({ code: 'EISDIR' }));
  }, 5_000);

  it("throws the file system's ENOENT for a chunk that is not there", () => {
    expect(() => readSmallChunk(join(dir, 'absent'), sha256(Buffer.alloc(0)))).toThrow(expect.objectContaining({ code: 'ENOENT' }));
  });
});
