import { ReplacedCopies } from './replaced-copies';

describe('ReplacedCopies', () => {
  it('remembers the chunks replaced or removed lately, forgetting the one noted longest ago when full', () => {
    const replaced = new ReplacedCopies(2);
    expect(replaced.has('a')).toBe(false);
    replaced.note('a');
    replaced.note('b');
    replaced.note('a'); // replaced again: now the most recent
    replaced.note('c'); // 'b' is the one noted longest ago
    expect(['a', 'b', 'c'].map((h) => replaced.has(h))).toEqual([true, false, true]);
  });

  it('refuses a capacity that is not a positive integer', () => {
    expect(() => new ReplacedCopies(0)).toThrow(RangeError);
    expect(() => new ReplacedCopies(2.5)).toThrow(RangeError);
  });
});
