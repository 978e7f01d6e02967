import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CairnError } from '@cairn/protocol';
import { writeFileAtomically } from '@cairn/transfer';

/** In the node's data directory: the id of the cluster whose chunks it holds. */
export const CLUSTER_ID_FILE = 'cluster-id';

/**
 * Which cluster a node's chunks belong to. A controller tells its cluster id (its catalog's) in the
 * handshake. A node with chunks of another cluster must not join: the controller would find none of
 * them in its catalog and collect them all as orphans once --gc-grace had passed, in silence (a data
 * directory moved to the wrong cluster, a controller pointed at a new catalog). So the node keeps the
 * id of the first cluster it joins, and refuses another while it holds chunks; an empty node may join
 * any (and keeps that one's id from then). A node from before cluster ids, with no id kept, takes the
 * first it is told: whose its chunks are cannot be known any more.
 */
export class ClusterMembership {
  private readonly path: string;

  constructor(
    dataDir: string,
    /** How many chunks the node holds now. */
    private readonly chunks: () => number,
    /** Told when the id cannot be kept (a full or read-only disk): the node joins all the same. */
    private readonly warn: (message: string) => void = () => undefined,
  ) {
    this.path = join(dataDir, CLUSTER_ID_FILE);
  }

  /** Resolves once the node may join `clusterId` (kept from now on); E_FORBIDDEN when its chunks are another cluster's. */
  async join(clusterId: string): Promise<void> {
    const kept = await this.kept();
    if (kept === clusterId) return;
    const held = this.chunks();
    if (kept !== undefined && held > 0) {
      throw new CairnError(
        'E_FORBIDDEN',
        `refused to join: this node's ${held} chunk(s) belong to cluster ${kept}, and this controller's cluster is ${clusterId}; ` +
          `joining would have them collected as orphans. Point the node at its own controller, or give it an empty --data. ` +
          `If it does belong to this cluster (its catalog was restored from a backup older than cluster ids, or made anew), ` +
          `delete ${this.path} and start it again: its chunks are then reconciled, and those no file uses collected`,
      );
    }
    try {
      await writeFileAtomically(this.path, [Buffer.from(`${clusterId}\n`)]);
    } catch (err) {
      // Nothing is lost by joining without it: a node that kept no id, or holds no chunk, has nothing it would protect.
      this.warn(`cannot keep the cluster id in ${this.path} (${(err as Error).message}): joining without it, it is tried again at the next registration`);
    }
  }

  private async kept(): Promise<string | undefined> {
    try {
      const id = (await readFile(this.path, 'utf8')).trim();
      if (!/^[0-9a-f]{32}$/.test(id)) throw new CairnError('E_DISK', `${this.path} does not hold a cluster id: delete it if this node's chunks belong to the cluster it joins`);
      return id;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }
}
