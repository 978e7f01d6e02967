import { copiesToRemove, type SurplusCopy } from './surplus-choice';

/** A removable copy on `node`, in the zone its name begins with (`a1` in zone a), or in none (`n…`). */
function copy(node: string, usedShare: number, removable = true): SurplusCopy {
  return { node, zone: node.startsWith('n') ? null : node[0], usedShare, removable };
}

describe('copiesToRemove: which surplus copies of a chunk go', () => {
  it('keeps the copy of a zone it alone holds, however full its node', () => {
    expect(copiesToRemove([copy('a1', 0.3), copy('a2', 0.2), copy('b1', 0.9)], 2)).toEqual(['a1']);
  });

  it('counts each node without a zone as a domain of its own', () => {
    const copies = [copy('n1', 0.9), copy('n2', 0.8), copy('a1', 0.1), copy('a2', 0.2)];
    expect(copiesToRemove(copies, 3)).toEqual(['a2']);
    expect(copiesToRemove(copies, 2)).toEqual(['n1', 'a2']); // n2 and a1: two domains, the least used
  });

  it('removes from the most used nodes when the domains kept are as many either way', () => {
    expect(copiesToRemove([copy('a1', 0.5), copy('b1', 0.9), copy('c1', 0.1)], 2)).toEqual(['b1']);
    // Past the factor, more domains do not count: the least used keep their copies.
    expect(copiesToRemove([copy('a1', 0.7), copy('a2', 0.1), copy('b1', 0.2), copy('c1', 0.9)], 2)).toEqual(['c1', 'a1']);
  });

  it('never leaves fewer than the factor, all in one zone if that is all there is', () => {
    expect(copiesToRemove([copy('a1', 0.9), copy('b1', 0.8)], 2)).toEqual([]);
    expect(copiesToRemove([copy('a1', 0.9), copy('b1', 0.8), copy('c1', 0.7)], 3)).toEqual([]);
    expect(copiesToRemove([copy('a1', 0.1), copy('a2', 0.9), copy('a3', 0.5), copy('a4', 0.2)], 2)).toEqual(['a2', 'a3']);
  });

  it('keeps a copy that may not go yet, and removes no copy that another domain would need', () => {
    // a2 is too young to go: a1 goes instead, though less used.
    expect(copiesToRemove([copy('a1', 0.1), copy('a2', 0.9, false), copy('b1', 0.5)], 2)).toEqual(['a1']);
    // a1 and a2 are both too young: removing b1 now would leave zone a alone, so nothing goes yet.
    expect(copiesToRemove([copy('a1', 0.1, false), copy('a2', 0.2, false), copy('b1', 0.9)], 2)).toEqual([]);
  });
});
