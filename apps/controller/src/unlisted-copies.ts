import type { Logger } from 'pino';
import { toCairnError } from '@cairn/protocol';
import type { CatalogStore } from '@cairn/registry';
import { expectFrame } from '@cairn/transfer';
import type { Cluster } from './cluster';

/** Copies remembered at most; past that, new ones wait for their node's next report instead. */
export const MAX_UNLISTED_COPIES = 10_000;
/** Copies checked per healing pass (each check re-reads the chunk on its node). */
const CHECKS_PER_PASS = 64;
const CHECK_TIMEOUT_MS = 30_000;

export interface UnlistedCopiesOptions {
  catalog: CatalogStore;
  cluster: Cluster;
  log: Logger;
}

/**
 * Copies the healer unlisted for a deletion that the node answered without deleting them: kept (put
 * or claimed within the grace period, or past the node's time budget for a batch) or failed — or
 * that it never sent (the link dropped while it unlisted them). They may be there or not, so they
 * are listed again only once a `chunk.check` has found them there — never on the node's word from
 * before: between a "kept" and its arrival the node may have quarantined the copy, and the removal
 * that told the controller found no row to remove. A copy found gone is forgotten; one whose node
 * cannot be asked now is asked on a later pass. (Deletions with no answer at all are left to the
 * node's report: the healer closes that link, see DeletionsInFlight.)
 *
 * A replica removal while a copy is being listed again (`gone`) wins: the copy is not listed, or is
 * unlisted again right after.
 */
export class UnlistedCopies {
  /** Node id → hashes of its unlisted copies, oldest first. */
  private readonly byNode = new Map<string, Set<string>>();
  private count = 0;
  /** `hash@node` being listed again → whether a removal came meanwhile. */
  private readonly relisting = new Map<string, boolean>();

  constructor(private readonly options: UnlistedCopiesOptions) {}

  get size(): number {
    return this.count;
  }

  add(nodeId: string, hashes: readonly string[]): void {
    const set = this.byNode.get(nodeId) ?? new Set<string>();
    for (const hash of hashes) {
      if (set.has(hash)) continue;
      if (this.count >= MAX_UNLISTED_COPIES) {
        this.options.log.warn({ node: nodeId }, 'too many unlisted copies to check; the rest wait for the node to report');
        break;
      }
      set.add(hash);
      this.count++;
    }
    if (set.size > 0) this.byNode.set(nodeId, set);
  }

  /** The node no longer has this copy (it said so): never list it again from here. */
  gone(hash: string, nodeId: string): void {
    const key = `${hash}@${nodeId}`;
    if (this.relisting.has(key)) this.relisting.set(key, true);
    this.forget(nodeId, hash);
  }

  /** The node was forgotten: its copies are unlisted for good (and its replica rows go too). */
  dropNode(nodeId: string): void {
    this.count -= this.byNode.get(nodeId)?.size ?? 0;
    this.byNode.delete(nodeId);
  }

  /** Checks up to CHECKS_PER_PASS copies on their nodes, listing again those found there; returns how many it listed. */
  async confirm(): Promise<number> {
    let budget = CHECKS_PER_PASS;
    let listed = 0;
    for (const [nodeId, hashes] of [...this.byNode]) {
      const peer = this.options.cluster.peer(nodeId);
      if (!peer) continue; // asked when it is back (its report may list them first)
      for (const hash of [...hashes]) {
        if (budget-- <= 0) return listed;
        try {
          const relisted = await this.relistIfThere(hash, nodeId, async () => {
            const answer = await peer.request('chunk.check', { hash }, { timeoutMs: CHECK_TIMEOUT_MS });
            return expectFrame(answer, 'chunk.checked').body.ok;
          });
          if (relisted) listed++;
          this.forget(nodeId, hash);
        } catch (err) {
          this.options.log.warn({ hash, node: nodeId, code: toCairnError(err).code }, 'could not check an unlisted copy; will retry');
          break; // the node is slow or gone: its other copies wait for a later pass
        }
      }
    }
    return listed;
  }

  /** Whether it listed the copy again. */
  private async relistIfThere(hash: string, nodeId: string, check: () => Promise<boolean>): Promise<boolean> {
    const { catalog } = this.options;
    if ((await catalog.chunkReplicas(hash)).includes(nodeId)) return false; // listed again (a put's commit)
    const key = `${hash}@${nodeId}`;
    this.relisting.set(key, false);
    try {
      if (!(await check()) || this.relisting.get(key)) return false;
      await catalog.addReplica(hash, nodeId);
      // A removal that came while the row went in found none to remove: do it for it.
      if (!this.relisting.get(key)) return true;
      await catalog.removeReplica(hash, nodeId);
      return false;
    } finally {
      this.relisting.delete(key);
    }
  }

  private forget(nodeId: string, hash: string): void {
    const set = this.byNode.get(nodeId);
    if (!set?.delete(hash)) return;
    this.count--;
    if (set.size === 0) this.byNode.delete(nodeId);
  }
}
