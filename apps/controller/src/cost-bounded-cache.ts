/**
 * Keeps the last value computed for a key and hands it out again while it is younger than
 * `reuseFactor` times what computing it took: an answer that costs 200 ms is reused for 4 s (at the
 * default of 20), one that costs 0.1 ms for 2 ms. However often it is asked for, the computation then
 * takes at most 1/reuseFactor of the time, and a cheap one stays as good as fresh. A request for
 * another key computes at once (and replaces the value kept); requests while a computation runs share it.
 */
export class CostBoundedCache<V> {
  private kept: { key: string; value: V; at: number; costMs: number } | undefined;
  private running: { key: string; value: Promise<V> } | undefined;

  constructor(
    private readonly reuseFactor = DEFAULT_REUSE_FACTOR,
    private readonly now: () => number = () => performance.now(),
  ) {}

  get(key: string, compute: () => Promise<V>): Promise<V> {
    const kept = this.kept;
    if (kept && kept.key === key && this.now() - kept.at < kept.costMs * this.reuseFactor) return Promise.resolve(kept.value);
    if (this.running?.key === key) return this.running.value;
    const started = this.now();
    const value: Promise<V> = compute().then((v) => {
      // Kept only if no computation for another key started meanwhile: the newer key's is the one to keep.
      if (this.running?.value === value) {
        const at = this.now();
        this.kept = { key, value: v, at, costMs: at - started };
      }
      return v;
    });
    this.running = { key, value };
    const done = () => {
      if (this.running?.value === value) this.running = undefined;
    };
    value.then(done, done);
    return value;
  }
}

const DEFAULT_REUSE_FACTOR = 20;
