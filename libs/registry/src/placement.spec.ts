import fc from 'fast-check';
import { type CairnError, isCairnError } from '@cairn/protocol';
import { placeChunk, type PlacementCandidate } from './placement';

/** A small seeded PRNG (mulberry32), so every run draws the same numbers. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const NODE_IDS: readonly string[] = [
  'n0',
  'n1',
  'n2',
  'n3',
  'n4',
  'n5',
  'n6',
  'n7',
];

const candidateList = fc.uniqueArray(
  fc.record({
    id: fc.constantFrom(...NODE_IDS),
    zone: fc.constantFrom(null, 'z1', 'z2', 'z3'),
    capacity: fc.integer({ min: 0, max: 1_000 }),
    used: fc.integer({ min: 0, max: 1_000 }),
  }),
  { selector: (c) => c.id, maxLength: 8 },
);

const request = fc.record({
  candidates: candidateList,
  replicas: fc.integer({ min: 1, max: 4 }),
  size: fc.integer({ min: 0, max: 400 }),
  exclude: fc.subarray([...NODE_IDS], { maxLength: 3 }),
  seed: fc.integer(),
});

function domain(node: PlacementCandidate): string {
  return node.zone ?? `node:${node.id}`;
}

describe('placeChunk', () => {
  it('picks distinct, eligible nodes spread over as many zones as possible, or fails with E_NO_NODES', () => {
    fc.assert(
      fc.property(request, ({ candidates, replicas, size, exclude, seed }) => {
        const eligible = candidates.filter(
          (c) => !exclude.includes(c.id) && c.capacity - c.used >= size,
        );
        let picked: string[];
        try {
          picked = placeChunk({
            replicas,
            size,
            candidates,
            exclude,
            random: seededRandom(seed),
          });
        } catch (err) {
          expect(isCairnError(err, 'E_NO_NODES')).toBe(true);
          expect(eligible.length).toBeLessThan(replicas);
          return;
        }
        expect(picked).toHaveLength(replicas);
        expect(new Set(picked).size).toBe(replicas);
        const byId = new Map(eligible.map((c) => [c.id, c]));
        for (const id of picked) expect(byId.has(id)).toBe(true); // never excluded, never full
        const zonesAvailable = new Set(eligible.map(domain)).size;
        const zonesUsed = new Set(
          picked.map((id) => domain(byId.get(id) as PlacementCandidate)),
        ).size;
        expect(zonesUsed).toBe(Math.min(replicas, zonesAvailable));
      }),
      { numRuns: 1_000 },
    );
  });

  it('puts no two replicas in one zone while another zone has room', () => {
    const candidates: PlacementCandidate[] = [
      { id: 'a1', zone: 'a', capacity: 1_000_000, used: 0 },
      { id: 'a2', zone: 'a', capacity: 1_000_000, used: 0 },
      { id: 'a3', zone: 'a', capacity: 1_000_000, used: 0 },
      { id: 'b1', zone: 'b', capacity: 10, used: 0 }, // almost full, but the only node in zone b
    ];
    const random = seededRandom(7);
    for (let i = 0; i < 200; i++) {
      expect(
        placeChunk({ replicas: 2, size: 10, candidates, random }),
      ).toContain('b1');
    }
  });

  it('counts the zones of nodes already holding the chunk as used', () => {
    const candidates: PlacementCandidate[] = [
      { id: 'a1', zone: 'a', capacity: 1_000_000, used: 0 },
      { id: 'a2', zone: 'a', capacity: 1_000_000, used: 0 },
      { id: 'b1', zone: 'b', capacity: 10, used: 0 }, // almost full, but the only node in zone b
    ];
    const random = seededRandom(11);
    for (let i = 0; i < 200; i++) {
      expect(placeChunk({ replicas: 1, size: 10, candidates, exclude: ['a1'], placed: [candidates[0]], random })).toEqual(['b1']);
    }
  });

  /** The E_NO_NODES a placement fails with: its message and details. */
  function refusal(request: Parameters<typeof placeChunk>[0]): { message: string; details: Record<string, unknown> | undefined } {
    try {
      placeChunk(request);
    } catch (err) {
      expect(isCairnError(err, 'E_NO_NODES')).toBe(true);
      return { message: (err as Error).message, details: (err as CairnError).details };
    }
    throw new Error('placed');
  }

  it('blames room when enough nodes lack the chunk but too few of them have room for it, saying how many lack it', () => {
    const candidates: PlacementCandidate[] = [
      { id: 'n1', zone: null, capacity: 100, used: 0 },
      { id: 'n2', zone: null, capacity: 100, used: 95 },
      { id: 'n3', zone: null, capacity: 100, used: 0 },
    ];
    expect(refusal({ replicas: 2, size: 10, candidates, exclude: ['n3'] })).toEqual({
      message: 'no room: need 2 nodes with room for 10 bytes, 1 available (3 live nodes: 1 without room, 1 left out)',
      details: { needed: 2, available: 1, size: 10, reason: 'no-room', live: 3, holding: 0, withoutRoom: 1, leftOut: 1 },
    });
  });

  it('blames the number of nodes when the nodes without a copy are too few, whatever their room (a repair with every live node holding one)', () => {
    // As the healer asks: the holders are not candidates, their copies are `placed`; both have room.
    const holders: PlacementCandidate[] = [
      { id: 'h1', zone: null, capacity: 1_000_000, used: 100_000 },
      { id: 'h2', zone: null, capacity: 1_000_000, used: 100_000 },
    ];
    expect(refusal({ replicas: 1, size: 7, candidates: [], placed: holders }).message).toBe(
      'too few nodes: need 1 node that holds no copy of it yet, 0 available (2 live nodes: 2 already holding a copy)',
    );
    // As a put asks: the holders are candidates, excluded and placed.
    expect(refusal({ replicas: 2, size: 7, candidates: [...holders, { id: 'n3', zone: null, capacity: 1_000_000, used: 0 }], exclude: ['h1', 'h2'], placed: holders }).message).toBe(
      'too few nodes: need 2 nodes that hold no copy of it yet, 1 available (3 live nodes: 2 already holding a copy)',
    );
  });

  it('blames the number of nodes for a new chunk wanting more replicas than there are nodes, even where one also lacks room', () => {
    const candidates: PlacementCandidate[] = [
      { id: 'n1', zone: null, capacity: 100, used: 0 },
      { id: 'n2', zone: null, capacity: 100, used: 100 },
    ];
    expect(refusal({ replicas: 3, size: 7, candidates })).toMatchObject({
      message: 'too few nodes: need 3 distinct nodes, 1 available (2 live nodes: 1 without room)',
      details: { reason: 'too-few-nodes', needed: 3, available: 1 },
    });
    expect(refusal({ replicas: 1, size: 7, candidates: [] }).message).toBe('too few nodes: need 1 node, 0 available (0 live nodes)');
  });

  it('says room is the problem exactly when the nodes without a copy would be enough had they room', () => {
    fc.assert(
      fc.property(request, ({ candidates, replicas, size, exclude }) => {
        const apart = candidates.filter((c) => !exclude.includes(c.id));
        const withRoom = apart.filter((c) => c.capacity - c.used >= size);
        fc.pre(withRoom.length < replicas);
        const { message, details } = refusal({ replicas, size, candidates, exclude });
        const tooFew = apart.length < replicas;
        expect(details).toMatchObject({ reason: tooFew ? 'too-few-nodes' : 'no-room', available: withRoom.length, withoutRoom: apart.length - withRoom.length });
        expect(message.startsWith(tooFew ? 'too few nodes: ' : `no room: need ${replicas} node${replicas === 1 ? '' : 's'} with room for ${size} bytes`)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('places on nodes with more free space more often, in proportion', () => {
    const candidates: PlacementCandidate[] = [
      { id: 'roomy', zone: null, capacity: 1_000, used: 100 }, // 900 free
      { id: 'tight', zone: null, capacity: 1_000, used: 900 }, // 100 free
    ];
    const random = seededRandom(42);
    const draws = 10_000;
    let roomy = 0;
    for (let i = 0; i < draws; i++) {
      if (
        placeChunk({ replicas: 1, size: 1, candidates, random })[0] === 'roomy'
      )
        roomy++;
    }
    expect(roomy / draws).toBeGreaterThan(0.87);
    expect(roomy / draws).toBeLessThan(0.93);
  });

  it('can place an empty chunk on a full node', () => {
    const candidates: PlacementCandidate[] = [
      { id: 'full', zone: null, capacity: 100, used: 100 },
    ];
    expect(placeChunk({ replicas: 1, size: 0, candidates })).toEqual(['full']);
  });

  it('refuses a nonsensical request', () => {
    for (const replicas of [0, 1.5]) {
      let error: unknown;
      try {
        placeChunk({ replicas, size: 1, candidates: [] });
      } catch (err) {
        error = err;
      }
      expect(isCairnError(error, 'E_USAGE')).toBe(true);
    }
  });
});
