import { domainOf, type PlacementCandidate } from '@cairn/registry';

/**
 * Whether a chunk's copies on these nodes could span fewer failure domains than they might: only when
 * two of the nodes share a zone (copies sit on distinct nodes, so otherwise each copy is a domain of
 * its own) and there is more than one domain. When not, spreading need not read the catalog at all:
 * a cluster without zones, or with one node per zone, pays nothing for it.
 */
export function mayBeUnderSpread(nodes: readonly PlacementCandidate[]): boolean {
  const domains = new Set(nodes.map(domainOf)).size;
  return domains > 1 && domains < new Set(nodes.map((node) => node.id)).size;
}

/**
 * The candidates in failure domains none of `placed` (a chunk's healthy copies) is in: the only nodes
 * where one more copy spreads the chunk further. Placement alone would fall back to a taken domain
 * when these have no room, making a copy that spreads nothing.
 */
export function inMissingDomains(
  candidates: readonly PlacementCandidate[],
  placed: readonly PlacementCandidate[],
): PlacementCandidate[] {
  const taken = new Set(placed.map(domainOf));
  return candidates.filter((node) => !taken.has(domainOf(node)));
}
