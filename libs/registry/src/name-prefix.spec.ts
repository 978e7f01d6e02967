import fc from 'fast-check';
import { prefixUpperBound } from './name-prefix';

function bytewise(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** Code points at the edges of UTF-8 encodings, so prefixes and near-misses are common. */
const EDGE_CHARS = [
  'a',
  'b',
  '%',
  '\u007f',
  '\u0080',
  '\u07ff',
  '\u0800',
  '\ud7ff',
  '\ue000',
  '\uffff',
  '\u{10000}',
  '\u{10ffff}',
];
const edgyString = fc
  .array(fc.constantFrom(...EDGE_CHARS), { maxLength: 5 })
  .map((chars) => chars.join(''));

describe('prefixUpperBound', () => {
  it('increments the last code point', () => {
    expect(prefixUpperBound('abc')).toBe('abd');
    expect(prefixUpperBound('a%')).toBe('a&');
    expect(prefixUpperBound('\ud7ff')).toBe('\ue000'); // skips the surrogate range
    expect(prefixUpperBound('a\u{10ffff}')).toBe('b');
  });

  it('has no bound for the empty prefix or one of only the last code point', () => {
    expect(prefixUpperBound('')).toBeUndefined();
    expect(prefixUpperBound('\u{10ffff}\u{10ffff}')).toBeUndefined();
  });

  it('[prefix, bound) holds exactly the names starting with prefix, in UTF-8 byte order', () => {
    fc.assert(
      fc.property(
        edgyString,
        edgyString,
        fc.boolean(),
        (prefix, tail, extend) => {
          const name = extend ? prefix + tail : tail;
          const bound = prefixUpperBound(prefix);
          const inRange =
            bytewise(name, prefix) >= 0 &&
            (bound === undefined || bytewise(name, bound) < 0);
          expect(inRange).toBe(name.startsWith(prefix));
        },
      ),
      { numRuns: 2_000 },
    );
  });
});
