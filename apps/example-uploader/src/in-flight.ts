import type { ServerResponse } from 'node:http';
import { CairnError, type ErrorCode } from '@cairn/protocol';

/**
 * Why an exchange was abandoned before its work was done:
 * - `client disconnected`: the client went away before the whole response reached it;
 * - `failed mid-response`: an error came after the status line was sent, so the response was cut short;
 * - `drain deadline`: the service was stopping and the request was still running when the drain time ran out.
 */
export type AbortReason = 'client disconnected' | 'failed mid-response' | 'drain deadline';

/** What the access log says of one exchange. */
export interface ExchangeOutcome {
  /** The status sent; absent when the client never got a status line. */
  status?: number;
  /** Whether the response was sent in full. */
  completed: boolean;
  aborted?: AbortReason;
  /** The error code the request failed with, if it did. */
  code?: ErrorCode;
  /** The Cairn upload id of a put, once the controller has begun it (the id in the controller's logs). */
  uploadId?: string;
}

/**
 * One request being served: the signal its Cairn calls take, and how its response ended. Aborting it
 * aborts those calls through the SDK (an aborted put does not commit); the first reason given wins.
 */
export class Exchange {
  /** Settles once the response is over: sent in full, or cut short. */
  readonly closed: Promise<void>;
  code: ErrorCode | undefined;
  uploadId: string | undefined;
  private readonly controller = new AbortController();
  private reason: AbortReason | undefined;

  constructor(readonly res: ServerResponse) {
    this.closed = new Promise((resolve) =>
      res.once('close', () => {
        // 'close' follows 'finish' for a response sent in full; before it, the connection went away.
        if (!res.writableFinished) this.abort('client disconnected');
        resolve();
      }),
    );
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get aborted(): AbortReason | undefined {
    return this.reason;
  }

  abort(reason: AbortReason): void {
    if (this.reason) return;
    this.reason = reason;
    this.controller.abort(new CairnError('E_ABORTED', reason));
  }

  outcome(): ExchangeOutcome {
    const { res } = this;
    return {
      ...(res.headersSent ? { status: res.statusCode } : {}),
      completed: res.writableFinished,
      ...(this.reason ? { aborted: this.reason } : {}),
      ...(this.code ? { code: this.code } : {}),
      ...(this.uploadId ? { uploadId: this.uploadId } : {}),
    };
  }
}

/**
 * The requests a server is serving, so that it can stop gracefully: refuse new ones, wait for those in
 * flight, and abort what is still running at the deadline.
 *
 *   serving ──stop()──▶ stopping   (new requests get 503 and `connection: close`; those in flight finish)
 */
export class InFlightRequests {
  private readonly exchanges = new Set<Exchange>();
  private state: 'serving' | 'stopping' = 'serving';
  private idle: Array<() => void> = [];

  get size(): number {
    return this.exchanges.size;
  }

  get stopping(): boolean {
    return this.state === 'stopping';
  }

  /** Tracks a request until `end`. A request begun while stopping still counts (it is answered 503). */
  begin(res: ServerResponse): Exchange {
    const exchange = new Exchange(res);
    this.exchanges.add(exchange);
    if (this.stopping) closeAfterAnswer(res);
    return exchange;
  }

  end(exchange: Exchange): void {
    this.exchanges.delete(exchange);
    if (this.exchanges.size > 0) return;
    const waiting = this.idle;
    this.idle = [];
    for (const resolve of waiting) resolve();
  }

  /**
   * Takes no more requests: each one in flight closes its connection once answered (a client that keeps
   * its connection alive goes elsewhere for the next request), and any new one is refused.
   */
  stop(): void {
    this.state = 'stopping';
    for (const { res } of this.exchanges) closeAfterAnswer(res);
  }

  /** Settles once no request is in flight. */
  whenIdle(): Promise<void> {
    if (this.exchanges.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  /** Aborts every request in flight; returns how many there were. */
  abortAll(reason: AbortReason): number {
    for (const exchange of this.exchanges) exchange.abort(reason);
    return this.exchanges.size;
  }
}

function closeAfterAnswer(res: ServerResponse): void {
  if (!res.headersSent) res.setHeader('connection', 'close');
}
