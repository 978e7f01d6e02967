import { domainOf as domainOfNode } from '@cairn/registry';

/** A chunk's copy on an alive node, as surplus trimming weighs it. */
export interface SurplusCopy {
  node: string;
  /** The zone its node declared; a node without one is a failure domain of its own. */
  zone: string | null;
  /** The share of its node's capacity in use: fuller nodes lose their copies first. */
  usedShare: number;
  /** False for a copy its node kept as too young lately: it stays until the grace period is over. */
  removable: boolean;
}

/** Placement's failure domain of the copy's node: a node without a zone shares its domain with no one. */
function domainOf(copy: SurplusCopy): string {
  return domainOfNode({ id: copy.node, zone: copy.zone });
}

/**
 * The copies of a chunk to delete, fullest node first, leaving at least `factor`: the copies kept span
 * as many failure domains as all the copies do (up to the factor), and within that the least used
 * nodes keep theirs. A copy that may not go yet is kept; when it takes the place of another domain's
 * copy, fewer than the surplus go now, rather than trade spread for room (the rest go on a later pass).
 */
export function copiesToRemove(copies: readonly SurplusCopy[], factor: number): string[] {
  if (copies.length <= factor) return [];
  const wanted = Math.min(factor, new Set(copies.map(domainOf)).size);
  const kept = new Set(copies.filter((copy) => !copy.removable));
  const leastUsedFirst = copies.filter((copy) => copy.removable).sort((a, b) => a.usedShare - b.usedShare);
  const domains = new Set([...kept].map(domainOf));
  // First the least used copy of each domain the kept ones miss, until they span as many as wanted...
  for (const copy of leastUsedFirst) {
    if (domains.size >= wanted) break;
    if (domains.has(domainOf(copy))) continue;
    kept.add(copy);
    domains.add(domainOf(copy));
  }
  // ...then the least used of the others, up to the factor.
  for (const copy of leastUsedFirst) {
    if (kept.size >= factor) break;
    kept.add(copy);
  }
  return leastUsedFirst
    .filter((copy) => !kept.has(copy))
    .reverse()
    .map((copy) => copy.node);
}
