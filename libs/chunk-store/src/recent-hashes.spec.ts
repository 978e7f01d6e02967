import fc from 'fast-check';
import { RecentHashes } from './recent-hashes';

describe('RecentHashes', () => {
  it('forgets the chunk read longest ago when full; a chunk read again is kept longer', () => {
    const recent = new RecentHashes(3);
    expect(recent.has('a')).toBe(false);
    recent.add('a');
    recent.add('b');
    recent.add('c');
    recent.add('a'); // read again: now the most recent
    expect(['a', 'b', 'c'].map((h) => recent.has(h))).toEqual([true, true, true]);
    recent.add('d'); // 'b' is the one read longest ago
    expect(['a', 'b', 'c', 'd'].map((h) => recent.has(h))).toEqual([true, false, true, true]);
  });

  it('holds exactly the last distinct hashes read, up to its capacity (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.array(fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j')), (capacity, reads) => {
        const recent = new RecentHashes(capacity);
        // A model: distinct hashes by their last read, the most recent last, the oldest dropped beyond the capacity.
        let model: string[] = [];
        for (const hash of reads) {
          recent.add(hash);
          model = [...model.filter((h) => h !== hash), hash].slice(-capacity);
        }
        for (const hash of 'abcdefghij') expect(recent.has(hash)).toBe(model.includes(hash));
      }),
    );
  });

  it('refuses a capacity that is not a positive integer', () => {
    expect(() => new RecentHashes(0)).toThrow(RangeError);
    expect(() => new RecentHashes(1.5)).toThrow(RangeError);
    expect(() => new RecentHashes(2.5)).toThrow(RangeError);
  });

  it('remembers the chunks replaced or removed lately, forgetting the one noted longest ago when full', () => {
    const replaced = new RecentHashes(2);
    expect(replaced.has('a')).toBe(false);
    replaced.add('a');
    replaced.add('b');
    replaced.add('a'); // replaced again: now the most recent
    replaced.add('c'); // 'b' is the one noted longest ago
    expect(['a', 'b', 'c'].map((h) => replaced.has(h))).toEqual([true, false, true]);
  });
});
