import type { ServerResponse } from 'node:http';
import type { Overview } from './overview';

/** How often the overview is pushed to every open event stream. */
export const EVENT_INTERVAL_MS = 1000;
/** How long a browser waits before reconnecting a dropped stream (the SSE `retry` field). */
const RETRY_MS = 2000;

export interface OverviewStreamOptions {
  overview: () => Promise<Overview>;
  intervalMs?: number;
  onError?: (err: unknown) => void;
}

/**
 * `/api/events`: Server-Sent Events carrying the overview JSON every second (`event: overview`).
 * One timer serves every open stream and runs only while at least one is open; each tick computes
 * the overview once. A stream whose reader is slow (its socket buffer full) skips ticks instead of
 * queueing them, so a stalled browser costs bounded memory.
 */
export class OverviewStream {
  private readonly streams = new Set<ServerResponse>();
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  private readonly intervalMs: number;

  constructor(private readonly options: OverviewStreamOptions) {
    this.intervalMs = options.intervalMs ?? EVENT_INTERVAL_MS;
  }

  get size(): number {
    return this.streams.size;
  }

  /** Turns `response` into an event stream: headers, a first overview at once, then one per tick. */
  async open(response: ServerResponse): Promise<void> {
    response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-accel-buffering': 'no',
      connection: 'keep-alive',
    });
    response.write(`retry: ${RETRY_MS}\n\n`);
    this.streams.add(response);
    response.once('close', () => this.drop(response));
    this.timer ??= setInterval(() => void this.tick(), this.intervalMs);
    const first = await this.options.overview().catch((err: unknown) => {
      this.options.onError?.(err);
      return undefined;
    });
    if (first && this.streams.has(response)) response.write(event(first));
  }

  /** Ends every stream and stops the timer. */
  close(): void {
    for (const response of this.streams) response.end();
    this.streams.clear();
    this.stopTimer();
  }

  private drop(response: ServerResponse): void {
    this.streams.delete(response);
    if (this.streams.size === 0) this.stopTimer();
  }

  private stopTimer(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private async tick(): Promise<void> {
    if (this.ticking) return; // the last overview is still being computed: skip rather than pile up
    this.ticking = true;
    try {
      const text = event(await this.options.overview());
      for (const response of this.streams) if (!response.writableNeedDrain) response.write(text);
    } catch (err) {
      this.options.onError?.(err);
    } finally {
      this.ticking = false;
    }
  }
}

function event(overview: Overview): string {
  return `event: overview\ndata: ${JSON.stringify(overview)}\n\n`;
}
