import { NO_ROOM_RETRY_MS, PlanSchedule, SAFETY_NET_MS } from './plan-schedule';

describe('PlanSchedule', () => {
  const VIEW = 'n1:alive n2:alive';

  /** A schedule whose first plan (at t=0, seeing VIEW) found nothing to do and scanned for `scanMs`. */
  function afterQuietPlan(scanMs = 5): PlanSchedule {
    const schedule = new PlanSchedule();
    expect(schedule.due(VIEW, 0)).toBe(true); // the first tick plans
    schedule.begin(VIEW, 0);
    schedule.end(scanMs, false);
    return schedule;
  }

  it('plans on the first tick, then not again while nothing changes', () => {
    const schedule = afterQuietPlan();
    for (const now of [1_000, 2_000, 30_000, SAFETY_NET_MS - 1]) expect(schedule.due(VIEW, now)).toBe(false);
  });

  it('plans again when told something changed, once', () => {
    const schedule = afterQuietPlan();
    schedule.changed();
    expect(schedule.due(VIEW, 1_000)).toBe(true);
    schedule.begin(VIEW, 1_000);
    schedule.end(5, false);
    expect(schedule.due(VIEW, 2_000)).toBe(false);
  });

  it('plans again when the nodes look different, and not when they look as they did at the last plan', () => {
    const schedule = afterQuietPlan();
    const n2Dead = 'n1:alive n2:dead';
    expect(schedule.due(n2Dead, 1_000)).toBe(true);
    schedule.begin(n2Dead, 1_000);
    schedule.end(5, false);
    expect(schedule.due(n2Dead, 2_000)).toBe(false);
    expect(schedule.due(VIEW, 3_000)).toBe(true); // back
  });

  it('keeps a change that arrives while a plan runs for the next tick', () => {
    const schedule = afterQuietPlan();
    schedule.changed();
    schedule.begin(VIEW, 1_000);
    schedule.changed(); // the plan may have read the catalog before it
    schedule.end(5, false);
    expect(schedule.due(VIEW, 2_000)).toBe(true);
  });

  it('plans again after a plan that had work it may not have finished', () => {
    const schedule = new PlanSchedule();
    schedule.begin(VIEW, 0);
    schedule.end(5, true);
    expect(schedule.due(VIEW, 1_000)).toBe(true);
  });

  it('plans again at the time it was asked to retry, and that time is forgotten by the next plan', () => {
    const schedule = afterQuietPlan();
    schedule.retryAfter(10_000);
    schedule.retryAfter(20_000); // the earliest wins
    expect(schedule.due(VIEW, 9_999)).toBe(false);
    expect(schedule.due(VIEW, 10_000)).toBe(true);
    schedule.begin(VIEW, 10_000);
    schedule.end(5, false);
    expect(schedule.due(VIEW, 20_000)).toBe(false);
  });

  it('after finding no room for a copy, plans again in NO_ROOM_RETRY_MS, or 20 scans if longer', () => {
    const schedule = afterQuietPlan(5);
    schedule.retryForRoom(1_000);
    expect(schedule.due(VIEW, 1_000 + NO_ROOM_RETRY_MS - 1)).toBe(false);
    expect(schedule.due(VIEW, 1_000 + NO_ROOM_RETRY_MS)).toBe(true);
    const slow = afterQuietPlan(2_000);
    slow.retryForRoom(1_000);
    expect(slow.due(VIEW, 1_000 + 39_999)).toBe(false);
    expect(slow.due(VIEW, 1_000 + 40_000)).toBe(true);
  });

  it('plans at least every SAFETY_NET_MS, and less often when its scans are long: at most 1% of the time', () => {
    expect(afterQuietPlan(5).due(VIEW, SAFETY_NET_MS)).toBe(true);
    const slow = afterQuietPlan(2_000); // a catalog of millions of chunks
    expect(slow.due(VIEW, SAFETY_NET_MS)).toBe(false);
    expect(slow.due(VIEW, 199_999)).toBe(false);
    expect(slow.due(VIEW, 200_000)).toBe(true);
  });
});
