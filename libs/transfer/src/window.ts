/**
 * A bounded window: at most `size` tasks in flight. `acquire` waits for a free slot, which is how
 * producers feel backpressure from slow consumers.
 */
export class Window {
  private active = 0;
  private readonly waiters: Array<() => void> = [];

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`window size must be ≥ 1, got ${size}`);
  }

  async acquire(): Promise<void> {
    if (this.active < this.size) {
      this.active++;
      return;
    }
    await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.active--;
  }

  get inFlight(): number {
    return this.active;
  }
}
