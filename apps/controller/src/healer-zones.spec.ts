import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { openSqliteCatalog, type CatalogStore } from '@cairn/registry';
import { Cluster } from './cluster';
import { Healer } from './healer';
import { GrantSigner } from './security/grant-signer';
import { MemoryNode } from './testing/memory-node';

/**
 * Invariant 4 when the healer acts: a chunk's copies spread across zones. Two zones of two nodes each,
 * zone a = {a1, a2} and zone b = {b1, b2}: a repair puts the new copy in the zone that has none, and a
 * trim keeps a copy in each zone, whatever the nodes' usage or placement's random draw. And a chunk
 * whose copies all sit in one zone (made while the other was full or down) is spread: one more copy in
 * the other zone, then the trim of one in the doubled zone.
 */

/** The GC grace period, also the age under which nodes keep a copy they are asked to delete. */
const GRACE = 25;
const ZONES: Record<string, string> = { a1: 'a', a2: 'a', b1: 'b', b2: 'b' };
const log = pino({ level: 'silent' });
const sha256 = (data: string) => createHash('sha256').update(data).digest('hex');

describe('healer: copies spread across zones', () => {
  let dir: string;
  let catalog: CatalogStore;
  let cluster: Cluster;
  let healer: Healer;
  /** New in each test, as their disks must be. */
  const nodes = new Map<string, MemoryNode>();

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-healer-zones-'));
    catalog = await openSqliteCatalog({ path: join(dir, 'catalog.db') });
    cluster = await Cluster.load(catalog, 60_000);
    for (const id of Object.keys(ZONES)) nodes.set(id, Object.assign(new MemoryNode(id), { network: nodes })); // repair copies land
    const grants = new GrantSigner(generateKeyPairSync('ed25519').privateKey);
    healer = new Healer({ catalog, cluster, log, gcGraceMs: GRACE, grants, repairConcurrency: 1, repairBytesPerSecond: 0, intervalMs: 60_000 });
  });

  afterEach(async () => {
    jest.restoreAllMocks();
    healer.stop();
    await catalog.close();
    await rm(dir, { recursive: true, force: true });
  });

  const node = (id: string) => nodes.get(id) as MemoryNode;

  /**
   * Registers every node of `zones` (all four unless given) in its zone, `used` bytes of 1 000 (0
   * unless given), its chunk report done.
   */
  async function registerAll(used: Record<string, number> = {}, zones = ZONES): Promise<void> {
    for (const [id, zone] of Object.entries(zones)) {
      const { peer } = node(id);
      await cluster.register({ id, address: `127.0.0.1:${7700 + cluster.list().length}`, zone, capacity: 1_000, used: used[id] ?? 0, chunks: 0 }, peer);
      cluster.markReported(id, peer);
    }
  }

  /** A committed file of one chunk (factor 2) on exactly `on`, its copies there old enough to delete. */
  async function committed(content: string, on: string[]): Promise<string> {
    const hash = sha256(content);
    for (const id of on) {
      node(id).put(hash);
      node(id).age(hash, GRACE * 10);
    }
    await catalog.beginUpload({ id: `setup-${content}`, name: content, replicas: 2, createdAt: Date.now() });
    const chunks = [{ index: 0, hash, size: content.length, nodes: on }];
    await catalog.commitUpload(`setup-${content}`, { size: content.length, sha256: hash, chunkCount: 1, now: Date.now(), chunks });
    return hash;
  }

  // Placement draws in [0, 1): 0 and 0.25 are where it picked a2, zone a's spare node, before.
  it.each([0, 0.25, 0.5, 0.75, 0.999])('repairs a chunk that lost its copy in zone b onto b2 (random draw %p)', async (draw) => {
    await registerAll();
    const hash = await committed('a chunk on a1 and b1', ['a1', 'b1']);
    cluster.liveness.forget('b1'); // dead: no heartbeat since
    node('b1').peer.close();
    jest.spyOn(Math, 'random').mockReturnValue(draw);
    await healer.pass();
    expect(await catalog.chunkReplicas(hash)).toEqual(['a1', 'b1', 'b2']);
    expect(node('b2').has(hash)).toBe(true);
  });

  it('trims a surplus copy in zone a, not the only one in zone b, though its node is the most used', async () => {
    await registerAll({ a1: 300, a2: 200, b1: 900 });
    const hash = await committed('a chunk on a1, a2 and b1', ['a1', 'a2', 'b1']);
    await healer.pass();
    expect(await catalog.chunkReplicas(hash)).toEqual(['a2', 'b1']); // a1: the more used of zone a
    expect(['a1', 'a2', 'b1'].filter((id) => node(id).has(hash))).toEqual(['a2', 'b1']);
  });

  describe('a chunk whose copies all sit in one zone', () => {
    /** Zone a = {a1, a2}, zone b = {b1} alone: b2 is never registered. */
    const THREE: Record<string, string> = { a1: 'a', a2: 'a', b1: 'b' };
    /** The nodes of `ids` that have `hash` on their disk. */
    const holding = (hash: string, ids: string[]) => ids.filter((id) => node(id).has(hash));

    it('gets a copy on b1, then loses one in zone a to trimming: one copy per zone', async () => {
      await registerAll({}, THREE);
      const hash = await committed('a chunk on a1 and a2', ['a1', 'a2']);
      await healer.pass();
      const replicas = await catalog.chunkReplicas(hash);
      expect(replicas).toHaveLength(2);
      expect(replicas).toContain('b1'); // the new copy, never the one trimmed
      expect(replicas.filter((id) => ZONES[id] === 'a')).toHaveLength(1);
      expect(holding(hash, ['a1', 'a2', 'b1'])).toEqual(replicas);
      expect(healer.counters.copiedChunks).toBe(1);
      expect(await catalog.underSpreadChunks({ healthyNodes: cluster.healthyNodeIds(), limit: 10 })).toEqual([]);
    });

    it('leaves a chunk already spread as it is', async () => {
      await registerAll({}, THREE);
      const hash = await committed('a chunk on a1 and b1', ['a1', 'b1']);
      const plans = jest.spyOn(catalog, 'underSpreadChunks');
      await healer.pass();
      expect(plans).toHaveBeenCalledTimes(1); // it looked (a1 and a2 share a zone), and found nothing
      await expect(plans.mock.results[0].value).resolves.toEqual([]);
      expect(await catalog.chunkReplicas(hash)).toEqual(['a1', 'b1']);
      expect(holding(hash, ['a1', 'a2', 'b1'])).toEqual(['a1', 'b1']);
      expect(healer.counters.copiedChunks).toBe(0);
    });

    it('waits for room when b1 has none, without planning again at the next tick', async () => {
      await registerAll({ b1: 999 }, THREE);
      const hash = await committed('a chunk on a1 and a2, too big for b1', ['a1', 'a2']);
      const plans = jest.spyOn(catalog, 'underSpreadChunks');
      await healer.pass();
      await expect(plans.mock.results[0].value).resolves.toMatchObject([{ hash }]); // found, and left
      expect(await catalog.chunkReplicas(hash)).toEqual(['a1', 'a2']); // no copy in zone a: it spreads nothing
      expect(holding(hash, ['a1', 'a2', 'b1'])).toEqual(['a1', 'a2']);
      await healer.tick(); // nothing changed: the next look is for when room may have come
      expect(plans).toHaveBeenCalledTimes(1);
    });
  });
});
