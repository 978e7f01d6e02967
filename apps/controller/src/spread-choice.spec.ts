import type { PlacementCandidate } from '@cairn/registry';
import { inMissingDomains, mayBeUnderSpread } from './spread-choice';

/** A node in the zone its name begins with (`a1` in zone a), or in none (`n…`). */
function at(id: string): PlacementCandidate {
  return { id, zone: id.startsWith('n') ? null : id[0], capacity: 1_000, used: 0 };
}
const nodes = (...ids: string[]) => ids.map(at);

describe('spread-choice: where copies of a chunk spread to', () => {
  it('finds nothing to spread unless two nodes share a zone and there is another domain', () => {
    expect(mayBeUnderSpread(nodes('a1', 'a2', 'b1'))).toBe(true);
    expect(mayBeUnderSpread(nodes('a1', 'a2', 'n1'))).toBe(true);
    expect(mayBeUnderSpread(nodes('a1', 'b1', 'n1', 'n2'))).toBe(false); // a zone each, or none
    expect(mayBeUnderSpread(nodes('a1', 'a2', 'a3'))).toBe(false); // one zone: as spread as it gets
    expect(mayBeUnderSpread([])).toBe(false);
  });

  it('keeps only the candidates in domains the copies lack', () => {
    expect(inMissingDomains(nodes('a3', 'b1', 'b2', 'n1'), nodes('a1', 'a2')).map((n) => n.id)).toEqual(['b1', 'b2', 'n1']);
    expect(inMissingDomains(nodes('a3', 'n1', 'n2'), nodes('a1', 'n1')).map((n) => n.id)).toEqual(['n2']);
    expect(inMissingDomains(nodes('a3'), nodes('a1', 'a2'))).toEqual([]);
  });
});
