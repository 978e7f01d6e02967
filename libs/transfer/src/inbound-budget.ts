/** What the budget needs of a connection: to stop and start reading from it. */
export interface Pausable {
  pause(): void;
  resume(): void;
}

/**
 * A process-wide cap on the bytes of requests received and not yet handled, over all connections.
 * Every frame is admitted (it is in memory already once it is a frame); while the bytes held are
 * over the cap, every connection stops reading, so TCP pushes back on the senders and no more chunks
 * pile up until handled requests free room. Without it a node's memory grows with its clients: each
 * connection may have 64 requests in flight, and a `chunk.put` arrives with its chunk.
 *
 * Reading stops only for connections that carry requests to this process (a server's), so an answer
 * it waits for can never be held up behind the pause.
 */
export class InboundBudget {
  private held = 0;
  private paused = false;
  private readonly connections = new Set<Pausable>();

  constructor(readonly maxBytes: number) {
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) throw new RangeError(`an inbound budget must be a whole number of bytes, got ${maxBytes}`);
  }

  /** Bytes of requests held now. */
  get heldBytes(): number {
    return this.held;
  }

  /** Whether connections are paused for being over the budget. */
  get isOver(): boolean {
    return this.paused;
  }

  /** Applies the budget to `connection` (paused at once if over it) until `detach`. */
  attach(connection: Pausable): void {
    this.connections.add(connection);
    if (this.paused) connection.pause();
  }

  detach(connection: Pausable): void {
    this.connections.delete(connection);
  }

  /** Counts `bytes` as held; the returned function (idempotent) gives them back once answered. */
  hold(bytes: number): () => void {
    this.held += bytes;
    if (!this.paused && this.held > this.maxBytes) {
      this.paused = true;
      for (const connection of this.connections) connection.pause();
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.held -= bytes;
      if (this.paused && this.held <= this.maxBytes) {
        this.paused = false;
        for (const connection of this.connections) connection.resume();
      }
    };
  }
}
