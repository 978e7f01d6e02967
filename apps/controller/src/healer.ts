import type { Logger } from 'pino';
import { isCairnError, toCairnError } from '@cairn/protocol';
import { CatalogStore, ChunkHealth, placeChunk } from '@cairn/registry';
import { expectFrame } from '@cairn/transfer';
import { Cluster } from './cluster';
import { GrantSigner } from './security/grant-signer';

export interface HealerOptions {
  catalog: CatalogStore;
  cluster: Cluster;
  log: Logger;
  /** How long a chunk stays unreferenced before its replicas are deleted. */
  gcGraceMs: number;
  /** Signs the read grant the target node shows the source node. */
  grants: GrantSigner;
  /** Chunk copies in flight at once, so repair does not starve clients. */
  repairConcurrency: number;
  /** Bytes per second repair copies at most, across all copies (0: no cap). */
  repairBytesPerSecond: number;
  intervalMs: number;
}

/** Chunks looked at per pass; the next pass picks up the rest. */
const PASS_LIMIT = 256;

export interface HealerCounters {
  queued: number;
  running: number;
  copiedChunks: number;
  copiedBytes: number;
  deletedChunks: number;
}

/**
 * The controller's self-healing loop. Each pass asks the registry what is wrong — chunks with fewer
 * healthy replicas than their factor (fewest first), surplus replicas, garbage past its grace period —
 * and sends the work to nodes: copies go node to node (the target pulls from a healthy source), never
 * through the controller. Nothing is kept in memory between passes: the plan is recomputed from the
 * catalog, so a controller restart simply resumes where the catalog says things stand.
 */
export class Healer {
  readonly counters: HealerCounters = { queued: 0, running: 0, copiedChunks: 0, copiedBytes: 0, deletedChunks: 0 };
  private timer: NodeJS.Timeout | undefined;
  private passing = false;
  /** The pacing clock: when the next copy may start under the repair rate cap. */
  private nextCopyAt = 0;
  private readonly warned = new Set<string>();

  constructor(private readonly options: HealerOptions) {}

  start(): void {
    this.timer = setInterval(() => void this.pass(), this.options.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** One round of repair, surplus removal and garbage collection; overlapping calls are skipped. */
  async pass(): Promise<void> {
    if (this.passing) return;
    this.passing = true;
    try {
      await this.repair();
      await this.removeSurplus();
      await this.collectGarbage();
    } catch (err) {
      this.options.log.warn({ code: toCairnError(err).code }, `healing pass failed: ${toCairnError(err).message}`);
    } finally {
      this.passing = false;
    }
  }

  private async repair(): Promise<void> {
    const { catalog, cluster } = this.options;
    const chunks = await catalog.underReplicatedChunks({ healthyNodes: cluster.healthyNodeIds(), limit: PASS_LIMIT });
    this.counters.queued = chunks.length;
    let next = 0;
    const worker = async () => {
      while (next < chunks.length) {
        const chunk = chunks[next++];
        await this.pace(chunk.size * Math.max(1, chunk.required - chunk.healthy.length));
        this.counters.running++;
        try {
          await this.repairChunk(chunk);
        } finally {
          this.counters.running--;
          this.counters.queued = Math.max(0, this.counters.queued - 1);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.options.repairConcurrency, chunks.length) }, worker));
  }

  /** Waits so that repair copies stay under `repairBytesPerSecond` on average. */
  private async pace(bytes: number): Promise<void> {
    const rate = this.options.repairBytesPerSecond;
    if (rate <= 0) return;
    const now = Date.now();
    const start = Math.max(now, this.nextCopyAt);
    this.nextCopyAt = start + (bytes / rate) * 1000;
    if (start > now) await new Promise((resolve) => setTimeout(resolve, start - now));
  }

  private async repairChunk(chunk: ChunkHealth): Promise<void> {
    const { cluster, catalog, log } = this.options;
    const sources = chunk.healthy.filter((id) => cluster.state(id) === 'alive');
    if (sources.length === 0) {
      this.warnOnce(`lost:${chunk.hash}`, { hash: chunk.hash }, 'chunk has no live replica to repair from');
      return;
    }
    let targets: string[];
    try {
      targets = placeChunk({
        replicas: chunk.required - chunk.healthy.length,
        size: chunk.size,
        candidates: cluster.placementCandidates(new Set(chunk.holders), chunk.size),
      });
    } catch (err) {
      if (!isCairnError(err, 'E_NO_NODES')) throw err;
      this.warnOnce(`place:${chunk.hash}`, { hash: chunk.hash }, `cannot repair yet: ${err.message}`);
      return;
    }
    await Promise.all(
      targets.map(async (target, i) => {
        const source = cluster.requireRef(sources[i % sources.length]);
        const peer = cluster.peer(target);
        if (!peer) return;
        try {
          const answer = await peer.request(
            'chunk.replicate',
            { hash: chunk.hash, size: chunk.size, source, grant: this.options.grants.get([chunk.hash]) },
            { timeoutMs: 60_000 },
          );
          expectFrame(answer, 'chunk.stored');
          await catalog.addReplica(chunk.hash, target);
          this.counters.copiedChunks++;
          this.counters.copiedBytes += chunk.size;
          log.debug({ hash: chunk.hash, from: source.id, to: target }, 'chunk repaired');
        } catch (err) {
          log.warn({ hash: chunk.hash, from: source.id, to: target, code: toCairnError(err).code }, 'chunk copy failed; will retry');
        }
      }),
    );
  }

  /**
   * Replicas beyond the factor (a node came back after its chunks were repaired elsewhere) are removed
   * from the most used nodes, never below the factor of healthy replicas.
   */
  private async removeSurplus(): Promise<void> {
    const { catalog, cluster } = this.options;
    const used = new Map(cluster.list().map((n) => [n.id, n.used / Math.max(1, n.capacity)]));
    for (const chunk of await catalog.surplusChunks({ healthyNodes: cluster.reportedHealthyNodeIds(), limit: PASS_LIMIT })) {
      // Only alive replicas count as keepers: a suspect one may be about to die.
      const alive = chunk.healthy.filter((id) => cluster.state(id) === 'alive' && cluster.peer(id));
      const removable = alive.sort((a, b) => (used.get(b) ?? 0) - (used.get(a) ?? 0)).slice(0, Math.max(0, alive.length - chunk.required));
      for (const node of removable) await this.deleteOn(node, [chunk.hash], 0);
    }
  }

  private async collectGarbage(): Promise<void> {
    const { catalog, gcGraceMs } = this.options;
    const ready = await catalog.collectGarbage({ now: Date.now(), graceMs: gcGraceMs, limit: PASS_LIMIT });
    const byNode = new Map<string, string[]>();
    for (const { hash, nodes } of ready) for (const node of nodes) byNode.set(node, [...(byNode.get(node) ?? []), hash]);
    for (const [node, hashes] of byNode) await this.deleteOn(node, hashes, gcGraceMs);
  }

  /** Asks a live node to delete chunks; a replica row goes only once the node confirms the chunk is gone. */
  private async deleteOn(nodeId: string, hashes: string[], minAgeMs: number): Promise<void> {
    const peer = this.options.cluster.peer(nodeId);
    if (!peer) return; // a dead node's chunks are dealt with when it comes back and reports
    try {
      const answer = expectFrame(await peer.request('chunk.delete', { hashes, minAgeMs }, { timeoutMs: 30_000 }), 'chunk.deleted');
      for (const [i, gone] of answer.body.deleted.entries()) {
        if (!gone) continue;
        await this.options.catalog.removeReplica(hashes[i], nodeId);
        this.counters.deletedChunks++;
      }
    } catch (err) {
      this.options.log.warn({ node: nodeId, code: toCairnError(err).code }, 'chunk deletion failed; will retry');
    }
  }

  private warnOnce(key: string, fields: Record<string, unknown>, message: string): void {
    if (this.warned.has(key)) return;
    if (this.warned.size > 10_000) this.warned.clear();
    this.warned.add(key);
    this.options.log.warn(fields, message);
  }
}
