/**
 * At most `limit` events per second on each connection, in fixed one-second windows. Kept in a
 * WeakMap, so nothing of a closed connection stays.
 */
export class ConnectionRate {
  private readonly windows = new WeakMap<object, { start: number; count: number }>();

  constructor(
    private readonly limit: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Counts one event of `connection`; false, counting nothing, once its window has had `limit`. */
  take(connection: object): boolean {
    const at = this.now();
    let window = this.windows.get(connection);
    if (!window || at - window.start >= 1000) {
      window = { start: at, count: 0 };
      this.windows.set(connection, window);
    }
    if (window.count >= this.limit) return false;
    window.count++;
    return true;
  }
}
