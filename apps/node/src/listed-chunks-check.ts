import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { MAX_PAGE, toCairnError, type Body } from '@cairn/protocol';
import type { ChunkStore } from '@cairn/chunk-store';

/**
 * Checks at most this many listed chunks a second: a node with a million chunks takes ~8 minutes a
 * round, and neither its disk (one lstat each, on the main thread) nor the controller (a page of
 * 1000 every half second) notices.
 */
export const LISTED_CHECKS_PER_SECOND = 2_000;
/** Checks between two pauses, so that a slow disk's lookups never hold the event loop for long. */
const CHECKS_BETWEEN_PAUSES = 100;

/** Where the catalog's list of this node's chunks comes from, and where a vanished one is reported. */
export interface ListedChunksLink {
  /** A page of the chunks the catalog lists on this node (`node.chunks`); rejects when the link is down. */
  listedChunks(after: string | undefined, limit: number, signal: AbortSignal): Promise<Body<'node.chunk-page'>>;
  /** Reports a chunk gone from here as a quarantined one (ControllerLink.notifyQuarantined, with its retries). */
  notifyQuarantined(hash: string, reason: string): void;
}

export interface ListedChunksCheckOptions {
  link: ListedChunksLink;
  store: Pick<ChunkStore, 'has'>;
  log: Logger;
  signal: AbortSignal;
  checksPerSecond?: number;
  pageSize?: number;
}

export interface ListedChunksRound {
  checked: number;
  missing: number;
  /** The round ended before the end of the list: stopped, or the link failed (the next round starts over). */
  complete: boolean;
}

/**
 * One round: pages through the chunks the catalog lists on this node and reports, as quarantined
 * (reason `missing`), each one whose file is not on the disk. A scrub walks the files that are there,
 * so a chunk file deleted behind the node's back (`rm`, a lost directory) is found by nothing else
 * until the node restarts, and the controller meanwhile counts the copy healthy: the chunk is lost when
 * its other holders die. Never rejects: a failure (the controller gone) or the signal ends the round.
 *
 * Race-free enough: a replica row is written only after its node acknowledged a durable copy, so a
 * listed chunk without its file here is gone. The only false report is of a copy deleted on the
 * controller's order (GC, surplus) after its page was read: the controller removed its row before
 * asking, so dropping it again changes nothing, and no repair follows (the chunk is garbage, or has its
 * factor elsewhere). A copy stored again since is not reported (the report looks at the disk first).
 */
export async function checkListedChunks(options: ListedChunksCheckOptions): Promise<ListedChunksRound> {
  const { link, store, log, signal, checksPerSecond = LISTED_CHECKS_PER_SECOND, pageSize = MAX_PAGE } = options;
  const round: ListedChunksRound = { checked: 0, missing: 0, complete: false };
  const started = performance.now();
  try {
    let after: string | undefined;
    while (!signal.aborted && !round.complete) {
      const page = await link.listedChunks(after, pageSize, signal);
      for (const hash of page.hashes) {
        if (round.checked % CHECKS_BETWEEN_PAUSES === 0) await pace(started, round.checked, checksPerSecond, signal);
        round.checked++;
        if (await store.has(hash)) continue;
        round.missing++;
        log.warn({ hash }, 'a chunk the controller lists here is missing from the disk; reported for repair');
        link.notifyQuarantined(hash, 'missing');
      }
      after = page.next;
      round.complete = after === undefined;
    }
  } catch (err) {
    if (!signal.aborted) log.warn({ code: toCairnError(err).code, checked: round.checked }, `listed chunks check ended early: ${toCairnError(err).message}`);
  }
  log.info({ ...round, ms: Math.round(performance.now() - started) }, 'listed chunks checked against the disk');
  return round;
}

/** Waits until `done` checks are due at `perSecond` since `started` (at least a turn of the event loop). */
function pace(started: number, done: number, perSecond: number, signal: AbortSignal): Promise<void> {
  const due = started + (done / perSecond) * 1000;
  return sleep(Math.max(0, due - performance.now()), undefined, { signal });
}
