import { assertChunkHash, isChunkHash } from './chunk-hash';
import { INVALID_HASHES, makeChunk } from './testing/chunks';

describe('chunk hashes', () => {
  it('accepts 64 lowercase hex characters', () => {
    expect(isChunkHash(makeChunk(10).hash)).toBe(true);
    expect(() => assertChunkHash(makeChunk(10).hash)).not.toThrow();
  });

  it.each(INVALID_HASHES)('refuses %j', (bad) => {
    expect(isChunkHash(bad)).toBe(false);
    expect(() => assertChunkHash(bad)).toThrow(expect.objectContaining({ code: 'E_BAD_MESSAGE' }));
  });

  it('refuses what is not a string', () => {
    expect(isChunkHash(42 as unknown as string)).toBe(false);
    expect(() => assertChunkHash(undefined)).toThrow(expect.objectContaining({ code: 'E_BAD_MESSAGE' }));
  });
});
