import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { CairnError, FileInfo, MAX_REPLICAS, isCairnError } from '@cairn/protocol';
import type { CairnClient } from '@cairn/transfer';
import { toHttpError, usageError } from './http-errors';
import { Exchange, InFlightRequests } from './in-flight';

/** The part of the SDK this service uses (a narrower type keeps the handler easy to test). */
export type FileStore = Pick<CairnClient, 'put' | 'get' | 'stat' | 'ls' | 'rm'>;

const FILES = '/files';
const JSON_TYPE = 'application/json; charset=utf-8';

/**
 * The HTTP API, over any `FileStore` (a `CairnClient` in production):
 *
 *   PUT    /files/<name>[?replicas=N]   store the request body (streamed, never buffered whole) → 201 FileInfo
 *   GET    /files/<name>                the file's bytes (HEAD: only the headers)
 *   GET    /files?prefix=<p>            a JSON array of FileInfo whose names start with p
 *   DELETE /files/<name>                remove the file → 200 the removed FileInfo
 *   GET    /healthz                     200 while serving
 *
 * `<name>` is the rest of the path, percent-decoded, so `photos/2024/a.jpg` is `/files/photos/2024/a.jpg`.
 * Failures are `{code, message}` with a status from the error code (see http-errors.ts).
 */
export function createUploaderHandler(store: FileStore, log: Logger, requests = new InFlightRequests()): RequestListener {
  return (req, res) => void serve(store, log, requests, req, res);
}

/** One exchange, from the request to its access log line, written once the response is over. */
async function serve(store: FileStore, log: Logger, requests: InFlightRequests, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const started = Date.now();
  // A client that goes away aborts its transfer: nothing half-uploaded becomes visible.
  const exchange = requests.begin(res);
  try {
    if (requests.stopping) throw new CairnError('E_UNAVAILABLE', 'the service is shutting down');
    await route(store, req, res, exchange, log);
  } catch (err) {
    fail(req, res, exchange, err, log);
  }
  await exchange.closed;
  requests.end(exchange);
  log.info({ method: req.method, url: req.url, ...exchange.outcome(), ms: Date.now() - started }, 'request');
}

async function route(store: FileStore, req: IncomingMessage, res: ServerResponse, exchange: Exchange, log: Logger): Promise<void> {
  const { signal } = exchange;
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
  const method = req.method ?? 'GET';

  if (path === '/healthz') return sendJson(res, 200, { ok: true });
  if (path === FILES || path === `${FILES}/`) {
    if (method !== 'GET' && method !== 'HEAD') return methodNotAllowed(res, 'GET, HEAD');
    return list(store, res, query.get('prefix') ?? '', signal, method === 'HEAD');
  }
  if (!path.startsWith(`${FILES}/`)) throw new CairnError('E_NOT_FOUND', `no route for ${path}`);

  const name = decodeName(path.slice(FILES.length + 1));
  switch (method) {
    case 'PUT':
      return put(store, req, res, name, replicasOf(query), exchange, log);
    case 'GET':
    case 'HEAD':
      return get(store, res, name, signal, method === 'HEAD');
    case 'DELETE':
      return sendJson(res, 200, await store.rm(name, { signal }));
    default:
      return methodNotAllowed(res, 'GET, HEAD, PUT, DELETE');
  }
}

/**
 * Streams the request body into Cairn. The SDK pulls it chunk by chunk, as fast as the nodes store
 * it, so memory stays bounded whatever the size (TCP backpressure slows the uploader down).
 */
async function put(store: FileStore, req: IncomingMessage, res: ServerResponse, name: string, replicas: number | undefined, exchange: Exchange, log: Logger): Promise<void> {
  // The SDK reads the body lazily, one chunk at a time, and errors (aborting the upload, so nothing
  // becomes visible) if the client goes away half-way. It is handed the request's async iterator rather
  // than the request itself: put() destroys a Readable source when it ends, and destroying a request
  // whose body has not been read to the end resets the connection, so a put refused before it read
  // everything (E_FORBIDDEN, E_NO_NODES, ...) would reach the client as a hang-up instead of a status.
  const body = req.iterator({ destroyOnReturn: false });
  const file = await store.put(name, body, {
    replicas,
    signal: exchange.signal,
    onBegin: ({ uploadId }) => {
      // The id the controller's and the nodes' logs know this put by (also on the access log line).
      exchange.uploadId = uploadId;
      log.debug({ url: req.url, uploadId }, 'upload begun');
    },
  });
  res.setHeader('location', `${FILES}/${encodeName(file.name)}`);
  sendJson(res, 201, file);
}

async function get(store: FileStore, res: ServerResponse, name: string, signal: AbortSignal, headOnly: boolean): Promise<void> {
  const file = await store.stat(name, { withChunks: false, signal }); // E_NOT_FOUND → 404 before any byte is sent
  res.statusCode = 200;
  res.setHeader('content-type', 'application/octet-stream');
  res.setHeader('content-length', file.size);
  res.setHeader('etag', `"${file.sha256}"`);
  res.setHeader('x-cairn-sha256', file.sha256);
  if (headOnly) return void res.end();
  let sent = 0;
  for await (const chunk of store.get(name, { signal }) as AsyncIterable<Buffer>) {
    sent += chunk.length;
    // The file was replaced between stat and get: the promised length no longer holds.
    if (sent > file.size) throw new CairnError('E_NOT_FOUND', `${name} changed while it was being read`);
    await write(res, chunk);
  }
  if (sent !== file.size) throw new CairnError('E_NOT_FOUND', `${name} changed while it was being read`);
  res.end();
}

/** A JSON array written as the listing is paged in from the controller (a big catalog is never held whole). */
async function list(store: FileStore, res: ServerResponse, prefix: string, signal: AbortSignal, headOnly: boolean): Promise<void> {
  const files = store.ls(prefix, { signal })[Symbol.asyncIterator]();
  let next = await files.next(); // an unreachable controller is still a clean 503 here
  res.statusCode = 200;
  res.setHeader('content-type', JSON_TYPE);
  if (headOnly) {
    await files.return?.(undefined);
    return void res.end();
  }
  await write(res, '[');
  for (let first = true; !next.done; next = await files.next(), first = false) {
    await write(res, `${first ? '' : ','}${JSON.stringify(next.value satisfies FileInfo)}`);
  }
  res.end(']');
}

/** Writes with backpressure; rejects if the client has gone away. */
function write(res: ServerResponse, data: string | Buffer): Promise<void> {
  if (res.destroyed) return Promise.reject(new CairnError('E_ABORTED', 'the client went away'));
  if (res.write(data)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      res.off('drain', done);
      res.off('close', closed);
      if (err) reject(err);
      else resolve();
    };
    const closed = () => done(new CairnError('E_ABORTED', 'the client went away'));
    res.on('drain', done);
    res.on('close', closed);
  });
}

function fail(req: IncomingMessage, res: ServerResponse, exchange: Exchange, err: unknown, log: Logger): void {
  const cause = failureOf(err, exchange);
  const { status, body } = toHttpError(cause);
  exchange.code = body.code;
  // A client that went away needs no line of its own: the access log says so.
  if (status >= 500 && exchange.aborted !== 'client disconnected') logFailure(log, req, cause);
  if (res.headersSent || res.destroyed) {
    // Bytes are already on their way: the only honest signal left is to cut the response short.
    exchange.abort('failed mid-response');
    res.destroy();
    return;
  }
  if (!req.complete) {
    // The body was not read to its end (e.g. a put that failed after its first chunk): answer, then
    // close the connection rather than read the rest of an upload we will not store.
    res.setHeader('connection', 'close');
    req.resume();
  }
  res.removeHeader('content-length');
  res.removeHeader('etag');
  res.removeHeader('x-cairn-sha256');
  res.removeHeader('location');
  sendJson(res, status, body);
}

/**
 * The error a failed request is reported (and answered) with. Once its client went away, whatever failed
 * next (the SDK's E_ABORTED, or the request body's own error) is that departure; a request abandoned at
 * the drain deadline is the service going away, not a fault.
 */
function failureOf(err: unknown, exchange: Exchange): unknown {
  if (exchange.aborted === 'client disconnected') return new CairnError('E_ABORTED', 'the client went away');
  if (exchange.aborted === 'drain deadline' && isCairnError(err, 'E_ABORTED')) return new CairnError('E_UNAVAILABLE', 'the service stopped before this request finished');
  return err;
}

/**
 * A server-side failure in one line. Cairn's operational errors (no nodes, controller unreachable, a
 * timeout, ...) are expected in a distributed system: their code and message say it all. Only what is
 * not one (E_INTERNAL, or not a CairnError at all: a bug) carries its stack.
 */
function logFailure(log: Logger, req: IncomingMessage, err: unknown): void {
  if (isCairnError(err) && err.code !== 'E_INTERNAL') {
    log.warn({ method: req.method, url: req.url, code: err.code, message: err.message }, 'request failed');
  } else {
    log.error({ method: req.method, url: req.url, code: 'E_INTERNAL', err }, 'request failed');
  }
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const text = JSON.stringify(value);
  res.writeHead(status, { 'content-type': JSON_TYPE, 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function methodNotAllowed(res: ServerResponse, allow: string): void {
  res.setHeader('allow', allow);
  sendJson(res, 405, { code: 'E_USAGE', message: `method not allowed here; use ${allow}` });
}

/** `/files/<name>`: the rest of the path, percent-decoded (the SDK validates the name itself). */
export function decodeName(encoded: string): string {
  try {
    return decodeURIComponent(encoded);
  } catch {
    throw new CairnError('E_NAME_INVALID', 'the name in the URL is not valid percent-encoded UTF-8');
  }
}

/** A name as a URL path: each segment percent-encoded, the slashes kept. */
export function encodeName(name: string): string {
  return name.split('/').map(encodeURIComponent).join('/');
}

function replicasOf(query: URLSearchParams): number | undefined {
  const raw = query.get('replicas');
  if (raw === null) return undefined;
  const replicas = Number(raw);
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > MAX_REPLICAS) throw usageError(`replicas must be an integer from 1 to ${MAX_REPLICAS}`);
  return replicas;
}
