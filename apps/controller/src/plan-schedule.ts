/**
 * When the healer's timer recomputes its repair plan. The plan asks the catalog for every chunk with
 * fewer healthy replicas than its factor, for every chunk with more, and (in a cluster with zones) for
 * every chunk whose copies share a zone while another could take one: scans whose cost grows with the
 * catalog (~4 µs per chunk here: a quarter of a second at 60 000 chunks, 3–4 s at a million).
 * Run on every tick, an idle controller with a large catalog would spend most of its time finding
 * nothing to do (a whole core at a million chunks).
 *
 * So the timer plans only when the answer may have changed:
 * - something that can leave a chunk short or in surplus happened (`changed`: a copy found bad or
 *   quarantined, a node's report reconciled, a file removed, a file committed from an upload begun
 *   before the nodes' view last changed);
 * - the nodes' view changed: one died, came back, finished its report, started or stopped draining;
 * - the last plan had work it may not have finished: copies made or failed, trims sent;
 * - a surplus copy a node kept as too young becomes old enough, or a repair that found no room for
 *   its copy may find some now (`retryAfter`, `retryForRoom`);
 * - and, as a safety net for anything the above misses, after a while in any case: at least
 *   SAFETY_NET_MS, and long enough that the scans take at most 1% of the time.
 *
 * A change that arrives while a plan runs is kept for the next tick (the plan may have read before it).
 * Times are on a monotonic clock (`performance.now()`), so that a step of the wall clock moves nothing.
 */
export class PlanSchedule {
  private wanted = true; // the first tick plans
  private view: string | undefined;
  private lastPlanAt = -Infinity;
  private lastScanMs = 0;
  private retryAt = Infinity;

  constructor(private readonly safetyNetMs = SAFETY_NET_MS) {}

  /** Something happened that may leave a chunk with too few or too many replicas. */
  changed(): void {
    this.wanted = true;
  }

  /** A plan should run again at `at` (a kept copy that becomes removable then). */
  retryAfter(at: number): void {
    this.retryAt = Math.min(this.retryAt, at);
  }

  /**
   * A repair found no node with room for a copy: plan again after NO_ROOM_RETRY_MS, or 20 times the
   * last scan's duration if that is longer (room comes with heartbeats, which the view leaves out).
   */
  retryForRoom(now: number): void {
    this.retryAfter(now + Math.max(NO_ROOM_RETRY_MS, this.lastScanMs * NO_ROOM_SCAN_SHARE_INVERSE));
  }

  /** Whether a tick at `now`, seeing the nodes as `view`, should plan. */
  due(view: string, now: number): boolean {
    return this.wanted || view !== this.view || now >= this.retryAt || now - this.lastPlanAt >= this.safetyInterval();
  }

  /** A plan starts, seeing the nodes as `view`: changes from now on are for the next one. */
  begin(view: string, now: number): void {
    this.wanted = false;
    this.view = view;
    this.lastPlanAt = now;
    this.retryAt = Infinity;
  }

  /** The plan ended; `scanMs`: how long its catalog scans took; `unfinished`: it had work to go on with. */
  end(scanMs: number, unfinished: boolean): void {
    this.lastScanMs = scanMs;
    if (unfinished) this.wanted = true;
  }

  private safetyInterval(): number {
    return Math.max(this.safetyNetMs, this.lastScanMs * SCAN_TIME_SHARE_INVERSE);
  }
}

/** How soon a repair that found no room tries again (at the least). */
export const NO_ROOM_RETRY_MS = 10_000;
/** While waiting for room, plans take at most 1/20 of the controller's time. */
const NO_ROOM_SCAN_SHARE_INVERSE = 20;
/** The longest the timer goes without planning when nothing seems to have changed. */
export const SAFETY_NET_MS = 60_000;
/** The safety net's plans take at most 1/100 of the controller's time. */
const SCAN_TIME_SHARE_INVERSE = 100;
