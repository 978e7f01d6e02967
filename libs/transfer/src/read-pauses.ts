import type { Pausable } from './inbound-budget';

/**
 * The reasons a connection has stopped reading, each paused and resumed on its own: it reads again
 * only once none is left. Two parts of a process may each want a connection to stop (the process's
 * inbound budget, the connection's own unsent answers); without this, one resuming it would undo
 * the other's pause.
 */
export class ReadPauses<Reason extends string> {
  private readonly reasons = new Set<Reason>();

  constructor(private readonly connection: Pausable) {}

  has(reason: Reason): boolean {
    return this.reasons.has(reason);
  }

  pause(reason: Reason): void {
    if (this.reasons.has(reason)) return;
    if (this.reasons.size === 0) this.connection.pause();
    this.reasons.add(reason);
  }

  resume(reason: Reason): void {
    if (!this.reasons.delete(reason)) return;
    if (this.reasons.size === 0) this.connection.resume();
  }
}
