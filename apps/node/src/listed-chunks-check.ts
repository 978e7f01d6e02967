import { readdir } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { MAX_PAGE, toCairnError, type Body } from '@cairn/protocol';
import { chunksDirOf, type ChunkStore } from '@cairn/chunk-store';
import { scheduleRounds } from './repeated-rounds';

/**
 * Checks at most this many listed chunks a second: a node with a million chunks takes ~8 minutes a
 * round, and neither its disk (one lstat each, on the main thread) nor the controller (a page of
 * 1000 every half second) notices.
 */
export const LISTED_CHECKS_PER_SECOND = 2_000;
/** Checks between two pauses, so that a slow disk's lookups never hold the event loop for long. */
const CHECKS_BETWEEN_PAUSES = 100;
/**
 * A round every --scrub-interval, but at least this often: it costs an lstat a chunk, not a read, and
 * a vanished copy counts healthy until it runs (a 10 TB node's scrub pass alone takes ~44 h).
 */
export const LISTED_CHECK_MAX_INTERVAL_MS = 60 * 60 * 1000;
/**
 * The safety valve. More chunks of one page missing than both of these is no file deleted here and
 * there but a data mount dropped or `chunks/` renamed: reported, they would drop every replica row of
 * the node and start a cluster-wide repair (and a chunk with one copy would show lost until the node
 * registered again). Such a page ends the round, reporting nothing of it.
 */
export const MAX_MISSING_PER_PAGE = 10;
export const MAX_MISSING_SHARE_OF_PAGE = 0.1;
/** Hashes a page's line about its missing chunks names (the rest are counted). */
const HASHES_LOGGED_PER_PAGE = 5;

/** Where the catalog's list of this node's chunks comes from, and where a vanished one is reported. */
export interface ListedChunksLink {
  /** A page of the chunks the catalog lists on this node (`node.chunks`); rejects when the link is down. */
  listedChunks(after: string | undefined, limit: number, signal: AbortSignal): Promise<Body<'node.chunk-page'>>;
  /** Reports a chunk gone from here as a quarantined one (ControllerLink.notifyQuarantined, with its retries). */
  notifyQuarantined(hash: string, reason: string): void;
}

export interface ListedChunksCheckOptions {
  link: ListedChunksLink;
  /** `dir`: the store's directory, whose `chunks/` must be there for a missing file to mean anything. */
  store: Pick<ChunkStore, 'has' | 'dir'>;
  log: Logger;
  signal: AbortSignal;
  checksPerSecond?: number;
  pageSize?: number;
}

export interface ListedChunksRound {
  checked: number;
  /** Chunks reported missing. */
  missing: number;
  /** The round ended before the end of the list: stopped, halted, or the link failed (the next round starts over). */
  complete: boolean;
  /**
   * Set when the safety valve ended the round, reporting nothing of the page at hand: the store's
   * chunk directory is absent or unreadable, or too much of a page was missing (MAX_MISSING_PER_PAGE).
   */
  halted?: 'no-chunk-directory' | 'too-many-missing';
}

/**
 * One round: pages through the chunks the catalog lists on this node and reports, as quarantined
 * (reason `missing`), each one whose file is not on the disk. A scrub walks the files that are there,
 * so a chunk file deleted behind the node's back (`rm`, a lost directory) is found by nothing else
 * until the node restarts, and the controller meanwhile counts the copy healthy: the chunk is lost when
 * its other holders die. Never rejects: a failure (the controller gone) or the signal ends the round.
 * The missing chunks of a page are logged in one line and reported together, and only when the disk
 * looks sound: a store without its chunk directory, or a page with too much missing, ends the round
 * with one error line and no report (MAX_MISSING_PER_PAGE); the next round looks again.
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
  const chunksDir = chunksDirOf(store.dir);
  const halt = (why: NonNullable<ListedChunksRound['halted']>, fields: Record<string, unknown>) => {
    round.halted = why;
    const what = why === 'no-chunk-directory' ? `${chunksDir} is missing or unreadable` : 'too many listed chunks are missing from one page';
    log.error(
      { ...round, ...fields, dir: chunksDir, ms: Math.round(performance.now() - started) },
      `the data directory looks absent or damaged (${what}): listed chunks check stopped, nothing reported; check the data mount`,
    );
    return round;
  };
  try {
    if (!signal.aborted && !(await chunkDirectoryReadable(chunksDir))) return halt('no-chunk-directory', {});
    let after: string | undefined;
    while (!signal.aborted && !round.complete) {
      const page = await link.listedChunks(after, pageSize, signal);
      const missing: string[] = [];
      for (const hash of page.hashes) {
        if (round.checked % CHECKS_BETWEEN_PAUSES === 0) await pace(started, round.checked, checksPerSecond, signal);
        round.checked++;
        if (!(await store.has(hash))) missing.push(hash);
      }
      if (missing.length > 0) {
        // Looked at after the page: a mount that dropped midway makes every lookup since come back absent.
        if (!(await chunkDirectoryReadable(chunksDir))) return halt('no-chunk-directory', { missingInPage: missing.length });
        if (missing.length > MAX_MISSING_PER_PAGE && missing.length > page.hashes.length * MAX_MISSING_SHARE_OF_PAGE) {
          return halt('too-many-missing', { missingInPage: missing.length, pageChunks: page.hashes.length });
        }
        round.missing += missing.length;
        log.warn(
          { missing: missing.length, pageChunks: page.hashes.length, hashes: missing.slice(0, HASHES_LOGGED_PER_PAGE) },
          `listed chunks missing from the disk, reported for repair: ${missing.length} of a page of ${page.hashes.length}`,
        );
        for (const hash of missing) link.notifyQuarantined(hash, 'missing');
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

/**
 * Runs `checkListedChunks` every min(--scrub-interval, LISTED_CHECK_MAX_INTERVAL_MS), the first round
 * one such interval after start-up, never two at once. Returns the stop, which aborts a round under way.
 */
export function scheduleListedChunksCheck(options: Omit<ListedChunksCheckOptions, 'signal'>, scrubIntervalMs: number): () => void {
  return scheduleRounds(listedCheckIntervalMs(scrubIntervalMs), (signal) => checkListedChunks({ ...options, signal }));
}

/** The time between two rounds: --scrub-interval, but at most LISTED_CHECK_MAX_INTERVAL_MS. */
export function listedCheckIntervalMs(scrubIntervalMs: number): number {
  return Math.min(scrubIntervalMs, LISTED_CHECK_MAX_INTERVAL_MS);
}

/**
 * Whether the store's chunk directory is there and can be listed (its 256 fan-out directories). A
 * store made it when it opened, so its absence means the disk under it went away.
 */
async function chunkDirectoryReadable(dir: string): Promise<boolean> {
  try {
    await readdir(dir);
    return true;
  } catch {
    return false;
  }
}

/** Waits until `done` checks are due at `perSecond` since `started` (at least a turn of the event loop). */
function pace(started: number, done: number, perSecond: number, signal: AbortSignal): Promise<void> {
  const due = started + (done / perSecond) * 1000;
  return sleep(Math.max(0, due - performance.now()), undefined, { signal });
}
