import type { NodeInfo } from '@cairn/protocol';
import type { CatalogStore, FileRecord } from '@cairn/registry';
import { ClusterStatus, ClusterStatusSources, clusterStatus } from '../cluster-status';

/** What the dashboard shows, as one JSON document (`/api/overview`, and each `/api/events` event). */
export interface Overview {
  /** The controller's clock (ms since the epoch) when the overview was taken. */
  time: number;
  status: ClusterStatus;
  nodes: NodeInfo[];
}

/** A file as the dashboard lists it (`/api/files`): the catalog record without its internal id. */
export type FileSummary = Omit<FileRecord, 'id' | 'manifestSha256'>;

/** Where the dashboard's data comes from: the controller's live objects, or fakes in tests. */
export interface DashboardSources {
  overview(): Promise<Overview>;
  /** Files whose name starts with `prefix`, after `after`, in name order, at most `limit`. */
  listFiles(prefix: string, after: string | undefined, limit: number): Promise<FileSummary[]>;
}

export type ControllerSources = ClusterStatusSources & { catalog: ClusterStatusSources['catalog'] & Pick<CatalogStore, 'listFiles'> };

/** The dashboard's data from the controller's catalog, cluster view and healer (the same as `cairn status`). */
export function controllerSources(sources: ControllerSources): DashboardSources {
  return {
    overview: async () => ({ time: Date.now(), status: await clusterStatus(sources), nodes: sources.cluster.list() }),
    listFiles: async (prefix, after, limit) =>
      (await sources.catalog.listFiles(prefix, after, limit)).map(({ id: _id, manifestSha256: _manifest, ...file }) => file),
  };
}
