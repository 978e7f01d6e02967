/**
 * Counts the events of the last `windowMs`, per key: the placements a node got lately. Times come from
 * a monotonic clock, so each key's list is in order and expired events are dropped from its front.
 * Counting and noting are then amortised O(1), where filtering the list on every placement cost time
 * in proportion to the rate of puts (at ~400 placements a second per node, 800 timestamps each time).
 */
export class RecentEvents {
  private readonly byKey = new Map<string, { times: number[]; head: number }>();

  constructor(
    private readonly windowMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  note(key: string): void {
    const at = this.now();
    let events = this.byKey.get(key);
    if (!events) {
      events = { times: [], head: 0 };
      this.byKey.set(key, events);
    }
    this.expire(events, at);
    events.times.push(at);
  }

  count(key: string): number {
    const events = this.byKey.get(key);
    if (!events) return 0;
    this.expire(events, this.now());
    return events.times.length - events.head;
  }

  private expire(events: { times: number[]; head: number }, at: number): void {
    const { times } = events;
    while (events.head < times.length && at - times[events.head] >= this.windowMs) events.head++;
    // Drop the expired prefix once it is at least half the list, so memory stays in proportion to the count.
    if (events.head > 0 && events.head * 2 >= times.length) {
      times.splice(0, events.head);
      events.head = 0;
    }
  }
}
