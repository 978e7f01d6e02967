import { addressGroup } from '@cairn/transfer';

/** Failed authentications allowed per address within the window before it is refused outright. */
export const MAX_FAILED_AUTH = 10;
export const FAILED_AUTH_WINDOW_MS = 60_000;
/** Addresses remembered at most, so a flood of addresses cannot grow memory without bound. */
const MAX_TRACKED = 10_000;

/**
 * Caps failed authentication attempts per remote address (clients and nodes alike): after
 * MAX_FAILED_AUTH failures within the window, every attempt from that address is refused until the
 * window has passed. An IPv6 /64 counts as one address (addressGroup): its owner may use any of them.
 */
export class FailedAuthLimiter {
  private readonly failures = new Map<string, { count: number; since: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  isBlocked(address: string): boolean {
    return this.blockedForMs(address) > 0;
  }

  /** How long `address` stays refused from now: 0 when it is not. */
  blockedForMs(address: string): number {
    const entry = this.current(addressGroup(address));
    if (entry === undefined || entry.count < MAX_FAILED_AUTH) return 0;
    return Math.max(1, entry.since + FAILED_AUTH_WINDOW_MS - this.now());
  }

  /** Counts a failure of `remoteAddress`; true when it is the one that locks the address out. */
  recordFailure(remoteAddress: string): boolean {
    const address = addressGroup(remoteAddress);
    const entry = this.current(address) ?? { count: 0, since: this.now() };
    entry.count++;
    if (!this.failures.has(address) && this.failures.size >= MAX_TRACKED) {
      const oldest = this.failures.keys().next().value;
      if (oldest !== undefined) this.failures.delete(oldest);
    }
    this.failures.set(address, entry);
    return entry.count === MAX_FAILED_AUTH;
  }

  private current(address: string) {
    const entry = this.failures.get(address);
    if (entry && this.now() - entry.since > FAILED_AUTH_WINDOW_MS) {
      this.failures.delete(address);
      return undefined;
    }
    return entry;
  }
}
