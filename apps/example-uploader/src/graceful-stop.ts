import type { Server } from 'node:http';
import type { Logger } from 'pino';
import type { InFlightRequests } from './in-flight';

/**
 * How long requests aborted at the drain deadline get to answer (the SDK rejects an aborted call at
 * once; this only bounds a handler that would not settle).
 */
export const ABORT_GRACE_MS = 2_000;

/** How long connections get to close by themselves once no request is in flight, before they are cut. */
export const CLOSE_GRACE_MS = 1_000;

export interface GracefulStopOptions {
  /** How long requests in flight may run on before they are aborted. */
  drainMs: number;
  log: Logger;
}

/**
 * Stops an HTTP server the way an operator expects on SIGTERM:
 * 1. no new connections, and idle keep-alive ones are closed; a request arriving on a connection still
 *    open gets 503, and every answer from now on closes its connection;
 * 2. requests in flight run to their end, for at most `drainMs`;
 * 3. those still running then are aborted through their AbortSignal (a put aborted so does not commit)
 *    and answered 503 if they had not begun their response, else cut short;
 * 4. the connections left are closed.
 * Resolves once the server is closed. The caller then closes its CairnClient.
 */
export async function stopGracefully(server: Server, requests: InFlightRequests, { drainMs, log }: GracefulStopOptions): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  requests.stop();
  server.closeIdleConnections();
  if (requests.size > 0) {
    log.info({ inFlight: requests.size, drainMs }, 'waiting for the requests in flight');
    if (!(await settlesWithin(requests.whenIdle(), drainMs))) {
      const aborted = requests.abortAll('drain deadline');
      log.warn({ aborted, drainMs }, 'drain time is up: aborting the requests still in flight');
      await settlesWithin(requests.whenIdle(), ABORT_GRACE_MS);
    }
  }
  // Connections that were busy are idle or closing now; one still open past the grace (a client that
  // never finished sending its request) is cut.
  server.closeIdleConnections();
  if (!(await settlesWithin(closed, CLOSE_GRACE_MS))) server.closeAllConnections();
  await closed;
}

/** Whether `promise` settled within `ms`. */
async function settlesWithin(promise: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
