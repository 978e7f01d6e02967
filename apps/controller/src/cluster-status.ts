import type { Body } from '@cairn/protocol';
import type { CatalogStore } from '@cairn/registry';
import type { Cluster } from './cluster';
import type { HealerCounters } from './healer';

export type ClusterStatus = Body<'cluster.info'>;

export interface ClusterStatusSources {
  catalog: Pick<CatalogStore, 'stats' | 'replicationHealth' | 'gcStats'>;
  cluster: Pick<Cluster, 'list' | 'liveNodeIds'>;
  healer: { readonly counters: HealerCounters };
}

/**
 * The cluster totals that `cairn status`, `/metrics` and the dashboard all show, from one place:
 * node states, catalog totals, replication health, repair and garbage-collection progress.
 */
export async function clusterStatus({ catalog, cluster, healer }: ClusterStatusSources): Promise<ClusterStatus> {
  const nodes = cluster.list();
  const count = (state: string) => nodes.filter((n) => n.state === state).length;
  const [stats, health, gc] = await Promise.all([catalog.stats(), catalog.replicationHealth(cluster.liveNodeIds()), catalog.gcStats()]);
  const { queued, running, copiedChunks, copiedBytes, deletedChunks } = healer.counters;
  return {
    nodes: { alive: count('alive'), suspect: count('suspect'), dead: count('dead'), draining: count('draining') },
    ...stats,
    ...health,
    repair: { queued, running, copiedChunks, copiedBytes },
    gc: { pendingChunks: gc.pendingChunks, deletedChunks },
  };
}
