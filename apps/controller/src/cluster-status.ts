import type { Body } from '@cairn/protocol';
import type { CatalogStore } from '@cairn/registry';
import type { Cluster } from './cluster';
import type { HealerCounters } from './healer';
import { CostBoundedCache } from './cost-bounded-cache';

export type ClusterStatus = Body<'cluster.info'>;

type CatalogTotals = Pick<CatalogStore, 'stats' | 'replicationHealth' | 'gcStats'>;

export interface ClusterStatusSources {
  catalog: CatalogTotals;
  cluster: Pick<Cluster, 'list' | 'healthyNodeIds'>;
  healer: { readonly counters: HealerCounters };
}

/**
 * The cluster totals that `cairn status`, `/metrics` and the dashboard all show, from one place:
 * node states, catalog totals, replication health, repair and garbage-collection progress.
 */
export async function clusterStatus({ catalog, cluster, healer }: ClusterStatusSources): Promise<ClusterStatus> {
  const nodes = cluster.list();
  const count = (state: string) => nodes.filter((n) => n.state === state).length;
  // Healthy as the healer counts them: a draining node's copies no longer count, though it still has them.
  const [stats, health, gc] = await Promise.all([catalog.stats(), catalog.replicationHealth(cluster.healthyNodeIds()), catalog.gcStats()]);
  const { queued, running, copiedChunks, copiedBytes, deletedChunks, waitingForRoom } = healer.counters;
  return {
    nodes: { alive: count('alive'), suspect: count('suspect'), dead: count('dead'), draining: count('draining') },
    ...stats,
    ...health,
    repair: { queued, running, copiedChunks, copiedBytes, waitingForRoom },
    gc: { pendingChunks: gc.pendingChunks, deletedChunks },
  };
}

/**
 * The catalog's totals for what asks for them over and over, the dashboard every second while it is
 * open: each answer is reused for a while in proportion to its cost (CostBoundedCache). Replication
 * health reads every referenced chunk (~3 µs each here, 0.2 s at 64 000), which recomputed every
 * second would keep a core a fifth busy; a change of the healthy nodes is shown at once. `cairn status`
 * (`cluster.status`) goes through one too: any token may ask, and requests in flight by the hundred
 * would otherwise each read the whole catalog on the controller's one thread, heartbeats waiting.
 */
export function reusedTotals(catalog: CatalogTotals): CatalogTotals {
  const stats = new CostBoundedCache<Awaited<ReturnType<CatalogTotals['stats']>>>();
  const health = new CostBoundedCache<Awaited<ReturnType<CatalogTotals['replicationHealth']>>>();
  const gc = new CostBoundedCache<Awaited<ReturnType<CatalogTotals['gcStats']>>>();
  return {
    stats: () => stats.get('', () => catalog.stats()),
    replicationHealth: (liveNodes) => health.get([...liveNodes].sort().join(' '), () => catalog.replicationHealth(liveNodes)),
    gcStats: () => gc.get('', () => catalog.gcStats()),
  };
}
