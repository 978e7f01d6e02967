import { UnacknowledgedQuarantines } from './unacknowledged-quarantines';

describe('unacknowledged quarantines', () => {
  it('hands out the oldest notes first, and forgets one once acknowledged', () => {
    const notes = new UnacknowledgedQuarantines();
    notes.add('a', 'scrub');
    notes.add('b', 'E_CORRUPT');
    notes.add('c', 'scrub');
    const [first, second] = notes.oldest(2);
    expect([first, second].map((n) => [n.hash, n.reason])).toEqual([
      ['a', 'scrub'],
      ['b', 'E_CORRUPT'],
    ]);
    notes.acknowledged(first);
    expect(notes.oldest(10).map((n) => n.hash)).toEqual(['b', 'c']);
  });

  it('keeps a chunk quarantined again after its report was sent, when the earlier report is acknowledged', () => {
    const notes = new UnacknowledgedQuarantines();
    notes.add('a', 'scrub');
    const [sent] = notes.oldest(1);
    notes.add('a', 'E_CORRUPT'); // a new copy, put since, found bad in turn
    notes.acknowledged(sent);
    expect(notes.oldest(10)).toMatchObject([{ hash: 'a', reason: 'E_CORRUPT' }]);
  });

  it('forgets the oldest beyond its capacity, and says which', () => {
    const notes = new UnacknowledgedQuarantines(2);
    expect(notes.add('a', 'scrub')).toBeUndefined();
    expect(notes.add('b', 'scrub')).toBeUndefined();
    expect(notes.add('c', 'scrub')).toBe('a');
    expect(notes.oldest(10).map((n) => n.hash)).toEqual(['b', 'c']);
  });

  it('forgets what a chunk report covers: the notes made before its listing began, not those after', () => {
    const notes = new UnacknowledgedQuarantines();
    notes.add('a', 'scrub');
    notes.add('b', 'scrub');
    const listingBegan = notes.mark();
    notes.add('c', 'scrub');
    notes.add('a', 'scrub'); // quarantined again during the listing, which may have shown the new copy
    expect(notes.coveredBy(listingBegan)).toBe(1);
    expect(notes.oldest(10).map((n) => n.hash)).toEqual(['c', 'a']);
    expect(notes.size).toBe(2);
  });

  it('puts a postponed note behind the others, where a chunk report still covers it', () => {
    const notes = new UnacknowledgedQuarantines();
    notes.add('a', 'scrub');
    notes.add('b', 'scrub');
    notes.add('c', 'scrub');
    const listingBegan = notes.mark();
    notes.add('d', 'scrub');
    const [stuck] = notes.oldest(1);

    notes.postpone(stuck);

    expect(notes.oldest(10).map((n) => n.hash)).toEqual(['b', 'c', 'd', 'a']);
    expect(notes.coveredBy(listingBegan)).toBe(3); // 'a' too, though it now comes after 'd'
    expect(notes.oldest(10).map((n) => n.hash)).toEqual(['d']);
  });

  it('forgets a refused note, but neither that nor postponing touches a later note of the same chunk', () => {
    const notes = new UnacknowledgedQuarantines();
    notes.add('a', 'scrub');
    notes.add('b', 'scrub');
    const [sent] = notes.oldest(1);
    notes.add('a', 'E_CORRUPT'); // quarantined again since it was sent: a note of its own
    notes.postpone(sent);
    notes.refused(sent);
    expect(notes.oldest(10)).toMatchObject([{ hash: 'b' }, { hash: 'a', reason: 'E_CORRUPT' }]);

    const [refused] = notes.oldest(1);
    notes.refused(refused);
    expect(notes.oldest(10).map((n) => n.hash)).toEqual(['a']);
  });

  it('refuses a capacity that is not a positive integer', () => {
    expect(() => new UnacknowledgedQuarantines(0)).toThrow(RangeError);
  });
});
