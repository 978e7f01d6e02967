/**
 * Prefix queries as index ranges. Names compare bytewise as UTF-8, which is the same order as by
 * code point, so the names starting with `prefix` are exactly those in [prefix, upper) where `upper`
 * is `prefix` with its last code point incremented. This avoids LIKE, whose '%' and '_' would be
 * wildcards, and lets every engine use its name index.
 */

const MAX_CODE_POINT = 0x10ffff;
const SURROGATES_START = 0xd800;
const SURROGATES_END = 0xdfff;

/** The least string greater than every string starting with `prefix`; undefined if there is none. */
export function prefixUpperBound(prefix: string): string | undefined {
  const codePoints = Array.from(
    prefix,
    (char) => char.codePointAt(0) as number,
  );
  while (codePoints.length > 0) {
    const last = codePoints.pop() as number;
    if (last < MAX_CODE_POINT) {
      const next =
        last + 1 === SURROGATES_START ? SURROGATES_END + 1 : last + 1;
      return String.fromCodePoint(...codePoints, next);
    }
  }
  return undefined;
}
