import type { IncomingMessage, ServerResponse } from 'node:http';
import { isCairnError } from '@cairn/protocol';

/**
 * One plain-HTTP route on a process's port (beside the WebSocket endpoint at `/ws`). It may answer
 * asynchronously; a rejection becomes a 500 (or the error's status for a `CairnError` of auth codes).
 */
export type HttpRoute = (request: IncomingMessage, response: ServerResponse, url: URL) => void | Promise<void>;

/**
 * Decides whether a request may see a protected route (`/metrics`, the dashboard's `/api/*`). It reads
 * what it needs from the request (e.g. `Authorization: Bearer <token>`). `false` answers 401; throwing
 * a `CairnError` with `E_FORBIDDEN` answers 403, with `E_AUTH` 401 (429 when its details carry
 * `retryAfterMs`).
 */
export type HttpAuthorizer = (request: IncomingMessage) => boolean | Promise<boolean>;

export interface HttpHandlerOptions {
  /** `/readyz` answers 200 while this is true, 503 otherwise. */
  isReady: () => boolean;
  /**
   * Further GET/HEAD routes by exact path (no query string), e.g. `/metrics`. `/healthz` and `/readyz`
   * are always the probes' own and cannot be overridden.
   */
  routes?: Readonly<Record<string, HttpRoute>>;
  /** Told about a route that threw (the client got a 500). */
  onError?: (err: unknown, request: IncomingMessage) => void;
}

/**
 * A small router for the plain HTTP side of a process: `GET /healthz` is 200 whenever the process
 * serves (never behind auth, so orchestrators can probe it), `GET /readyz` is 200 once the process is
 * ready (controller: catalog open; node: registered) and 503 before; other paths go to `routes`
 * (404 when none matches). Only GET and HEAD are served (405 otherwise); HEAD gets no body.
 */
export function createHttpHandler({ isReady, routes = {}, onError }: HttpHandlerOptions) {
  const table = new Map(Object.entries(routes));
  return (request: IncomingMessage, response: ServerResponse): void => {
    let url: URL;
    try {
      // A path is appended, not resolved: `//app.js` is a path here, not another host's `/`. Anything
      // else must be a whole URL (absolute form), of which only the path and query count.
      const target = request.url ?? '/';
      url = target.startsWith('/') ? new URL(`http://localhost${target}`) : new URL(target);
    } catch {
      return sendText(response, 400, 'bad request\n');
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.setHeader('allow', 'GET, HEAD');
      return sendText(response, 405, 'method not allowed\n');
    }
    if (url.pathname === '/healthz') return sendText(response, 200, 'ok\n');
    if (url.pathname === '/readyz') return isReady() ? sendText(response, 200, 'ready\n') : sendText(response, 503, 'not ready\n');
    const route = table.get(url.pathname);
    if (!route) return sendText(response, 404, 'not found\n');
    Promise.resolve()
      .then(() => route(request, response, url))
      .catch((err: unknown) => {
        onError?.(err, request);
        if (response.headersSent) response.destroy();
        else sendText(response, 500, 'internal error\n');
      });
  };
}

/** The probes alone (`/healthz`, `/readyz`): `createHttpHandler({ isReady })`. */
export function createProbeHandler(isReady: () => boolean) {
  return createHttpHandler({ isReady });
}

/**
 * Wraps a route so it runs only for requests `authorize` accepts; others get 401 (with
 * `WWW-Authenticate: Bearer`), 403, or, for an `E_AUTH` whose details carry `retryAfterMs` (an address
 * locked out), 429 with `Retry-After`, as JSON `{error: {code, message}}`.
 */
export function requireAuthorized(authorize: HttpAuthorizer, route: HttpRoute): HttpRoute {
  return async (request, response, url) => {
    let allowed: boolean;
    try {
      allowed = await authorize(request);
    } catch (err) {
      if (isCairnError(err, 'E_FORBIDDEN')) return sendJson(response, 403, { error: { code: 'E_FORBIDDEN', message: err.message } });
      if (!isCairnError(err, 'E_AUTH')) throw err;
      const retryAfterMs = err.details?.['retryAfterMs'];
      if (typeof retryAfterMs === 'number' && retryAfterMs > 0) {
        // Locked out for a while, whatever the token: not "your token is wrong", which a right one is not.
        response.setHeader('retry-after', String(Math.ceil(retryAfterMs / 1000)));
        return sendJson(response, 429, { error: { code: 'E_AUTH', message: err.message } });
      }
      allowed = false;
    }
    if (!allowed) {
      response.setHeader('www-authenticate', 'Bearer');
      return sendJson(response, 401, { error: { code: 'E_AUTH', message: 'a valid token is required (Authorization: Bearer <token>)' } });
    }
    return route(request, response, url);
  };
}

export function sendText(response: ServerResponse, status: number, body: string, contentType = 'text/plain; charset=utf-8'): void {
  response.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  response.end(body);
}

export function sendJson(response: ServerResponse, status: number, value: unknown): void {
  sendText(response, status, JSON.stringify(value), 'application/json; charset=utf-8');
}
