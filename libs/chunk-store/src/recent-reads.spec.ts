import fc from 'fast-check';
import { RecentReads } from './recent-reads';

describe('RecentReads', () => {
  it('remembers what was added until as many newer ones came as it holds', () => {
    const recent = new RecentReads(3);
    expect(recent.has('a')).toBe(false);
    recent.add('a');
    recent.add('b');
    recent.add('a'); // already there: not counted again
    recent.add('c');
    expect(['a', 'b', 'c'].map((h) => recent.has(h))).toEqual([true, true, true]);
    recent.add('d'); // 'a' is the oldest
    expect(['a', 'b', 'c', 'd'].map((h) => recent.has(h))).toEqual([false, true, true, true]);
  });

  it('holds exactly the last distinct hashes added, up to its capacity (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.array(fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j')), (capacity, adds) => {
        const recent = new RecentReads(capacity);
        // A model: first-come order of distinct hashes, oldest dropped beyond the capacity.
        let model: string[] = [];
        for (const hash of adds) {
          recent.add(hash);
          if (!model.includes(hash)) model = [...model, hash].slice(-capacity);
        }
        for (const hash of 'abcdefghij') expect(recent.has(hash)).toBe(model.includes(hash));
      }),
    );
  });

  it('refuses a capacity that is not a positive integer', () => {
    expect(() => new RecentReads(0)).toThrow(RangeError);
    expect(() => new RecentReads(1.5)).toThrow(RangeError);
  });
});
