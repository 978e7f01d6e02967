import { CairnError } from '@cairn/protocol';

/** A node that may receive a chunk: the caller passes live nodes only. */
export interface PlacementCandidate {
  id: string;
  /** Failure domain the node declared; a node without one is a domain of its own. */
  zone: string | null;
  capacity: number;
  used: number;
}

export interface PlacementRequest {
  /** How many distinct nodes to pick. */
  replicas: number;
  /** The chunk's size: nodes with less free space are skipped. */
  size: number;
  candidates: readonly PlacementCandidate[];
  /** Node ids never to pick (e.g. nodes that already hold the chunk, or just failed a write). */
  exclude?: readonly string[];
  /** Nodes that already have a replica of this chunk (not picked again): their zones count as used. */
  placed?: readonly PlacementCandidate[];
  /** Uniform in [0, 1); injectable so tests are reproducible. */
  random?: () => number;
}

function freeSpace(node: PlacementCandidate): number {
  return node.capacity - node.used;
}

/** Zone used for spreading: a node without a zone shares its failure domain with no one. */
export function domainOf(node: Pick<PlacementCandidate, 'id' | 'zone'>): string {
  return node.zone === null ? `node:${node.id}` : `zone:${node.zone}`;
}

/**
 * Picks one node at random, with probability proportional to its free space. A node with no free
 * space at all (only eligible for an empty chunk) still gets a weight of 1 so it can be picked.
 */
function pickWeighted(
  nodes: readonly PlacementCandidate[],
  random: () => number,
): PlacementCandidate {
  const weights = nodes.map((node) => Math.max(freeSpace(node), 1));
  const total = weights.reduce((sum, weight) => sum + weight, 0);
  let target = random() * total;
  for (let i = 0; i < nodes.length; i++) {
    target -= weights[i];
    if (target < 0) return nodes[i];
  }
  return nodes[nodes.length - 1]; // rounding left a sliver past the last weight
}

/**
 * Picks `replicas` distinct nodes for one chunk. Each pick prefers the failure domains not used yet
 * (so no two replicas share a zone while another zone has a node with room), and within them
 * chooses at random weighted by free space, so emptier nodes fill faster and the cluster evens out.
 * Fewer eligible nodes than `replicas` is E_NO_NODES, saying why (see `noNodes`).
 */
export function placeChunk(request: PlacementRequest): string[] {
  const {
    replicas,
    size,
    candidates,
    exclude = [],
    random = Math.random,
  } = request;
  if (
    !Number.isSafeInteger(replicas) ||
    replicas < 1 ||
    !Number.isSafeInteger(size) ||
    size < 0
  ) {
    throw new CairnError(
      'E_USAGE',
      `invalid placement request: ${replicas} replicas of ${size} bytes`,
    );
  }
  const excluded = new Set(exclude);
  const seen = new Set<string>();
  const remaining: PlacementCandidate[] = [];
  const lacking: PlacementCandidate[] = [];
  for (const node of candidates) {
    if (excluded.has(node.id) || seen.has(node.id)) continue;
    seen.add(node.id);
    if (freeSpace(node) >= size) remaining.push(node);
    else lacking.push(node);
  }
  if (remaining.length < replicas) throw noNodes(request, remaining.length, lacking.length);

  const usedDomains = new Set<string>((request.placed ?? []).map(domainOf));
  const picked: string[] = [];
  while (picked.length < replicas) {
    const fresh = remaining.filter((node) => !usedDomains.has(domainOf(node)));
    const node = pickWeighted(fresh.length > 0 ? fresh : remaining, random);
    picked.push(node.id);
    usedDomains.add(domainOf(node));
    remaining.splice(remaining.indexOf(node), 1);
  }
  return picked;
}

/**
 * E_NO_NODES for a placement that found `available` eligible nodes, fewer than it needs, saying which
 * lack it is, for whoever reads the repair log or a put's error: too few nodes (the nodes that do not
 * hold the chunk yet are fewer than the copies wanted, whatever their room: adding capacity would not
 * help, adding a node would), or not enough room (there are enough such nodes, but `lacking` of them
 * have less free space than the chunk). With how many nodes placement saw, how many of them hold a
 * copy already (`placed`, and the `exclude`d that are among them), lack room, or were left out.
 */
function noNodes(request: PlacementRequest, available: number, lacking: number): CairnError {
  const { replicas, size, candidates, exclude = [], placed = [] } = request;
  const holders = new Set(placed.map((node) => node.id));
  const excluded = new Set(exclude);
  const live = new Set([...candidates.map((node) => node.id), ...holders]);
  const leftOut = [...new Set(candidates.map((node) => node.id))].filter((id) => excluded.has(id) && !holders.has(id)).length;
  const holding = holders.size;
  const tooFew = available + lacking < replicas;
  const nodes = (n: number) => `${n} node${n === 1 ? '' : 's'}`;
  const apart = holding > 0 ? `${nodes(replicas)} that hold${replicas === 1 ? 's' : ''} no copy of it yet` : replicas === 1 ? '1 node' : `${replicas} distinct nodes`;
  const wanted = tooFew ? `too few nodes: need ${apart}` : `no room: need ${nodes(replicas)} with room for ${size} bytes`;
  const why = [...(holding > 0 ? [`${holding} already holding a copy`] : []), ...(lacking > 0 ? [`${lacking} without room`] : []), ...(leftOut > 0 ? [`${leftOut} left out`] : [])];
  const seen = `${live.size} live node${live.size === 1 ? '' : 's'}${why.length > 0 ? `: ${why.join(', ')}` : ''}`;
  return new CairnError('E_NO_NODES', `${wanted}, ${available} available (${seen})`, {
    needed: replicas,
    available,
    size,
    reason: tooFew ? 'too-few-nodes' : 'no-room',
    live: live.size,
    holding,
    withoutRoom: lacking,
    leftOut,
  });
}
