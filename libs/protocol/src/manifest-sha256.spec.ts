import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { CairnError } from './errors';
import { ManifestSha256, manifestSha256 } from './manifest-sha256';

fc.configureGlobal({ interruptAfterTimeLimit: 4_000, markInterruptAsFailure: true });

const hex = (s: string) => createHash('sha256').update(s).digest('hex');

/** The definition written out the long way: 32 raw hash bytes, then the size as a u64 big-endian. */
function byDefinition(chunks: Array<{ hash: string; size: number }>): string {
  const parts = chunks.flatMap(({ hash, size }) => {
    const sizeBytes = Buffer.alloc(8);
    sizeBytes.writeBigUInt64BE(BigInt(size));
    return [Buffer.from(hash, 'hex'), sizeBytes];
  });
  return createHash('sha256').update(Buffer.concat(parts)).digest('hex');
}

const chunkArb = fc.record({
  hash: fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex')),
  size: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
});

describe('manifestSha256', () => {
  it('is the SHA-256 of each chunk hash (32 bytes) and size (u64 big-endian), in order', () => {
    fc.assert(fc.property(fc.array(chunkArb, { maxLength: 40 }), (chunks) => manifestSha256(chunks) === byDefinition(chunks)));
  });

  it('gives the SHA-256 of nothing for an empty file', () => {
    expect(manifestSha256([])).toBe(hex(''));
  });

  it('depends on the order, the sizes and every hash', () => {
    const a = { hash: hex('a'), size: 4 };
    const b = { hash: hex('b'), size: 4 };
    const base = manifestSha256([a, b]);
    expect(manifestSha256([b, a])).not.toBe(base);
    expect(manifestSha256([a, { ...b, size: 5 }])).not.toBe(base);
    expect(manifestSha256([a])).not.toBe(base);
    expect(manifestSha256([a, b, b])).not.toBe(base);
    expect(manifestSha256([{ hash: hex('c'), size: 4 }, b])).not.toBe(base);
  });

  it('gives the same digest whether built at once or a chunk at a time', () => {
    const chunks = [0, 1, 2].map((i) => ({ hash: hex(String(i)), size: 1000 + i }));
    const running = new ManifestSha256();
    for (const c of chunks) running.add(c.hash, c.size);
    expect(running.digest()).toBe(manifestSha256(chunks));
  });

  it.each([
    ['an upper-case hash', hex('a').toUpperCase(), 1],
    ['a short hash', hex('a').slice(2), 1],
    ['a negative size', hex('a'), -1],
    ['a fractional size', hex('a'), 1.5],
    ['an unsafe size', hex('a'), 2 ** 53],
  ])('refuses %s with E_BAD_MESSAGE', (_label, hash, size) => {
    expect(() => new ManifestSha256().add(hash, size)).toThrow(expect.objectContaining({ code: 'E_BAD_MESSAGE' }) as CairnError);
  });

  it('refuses an add after the digest', () => {
    const running = new ManifestSha256();
    running.digest();
    expect(() => running.add(hex('a'), 1)).toThrow(/after digest/);
  });
});
