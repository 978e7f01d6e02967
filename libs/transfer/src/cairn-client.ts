import { setMaxListeners } from 'node:events';
import { Readable } from 'node:stream';
import {
  Body,
  CLOSE_CODES,
  CairnError,
  ControlFrame,
  ControlType,
  FileInfo,
  Frame,
  MAX_REQUESTS_IN_FLIGHT,
  MAX_TIMER_MS,
  NodeInfo,
  NodeState,
  validateName,
  validatePrefix,
  validateTokenPrefix,
} from '@cairn/protocol';
import { RpcPeer, expectFrame } from './rpc-peer';
import { connectPeer } from './connect';
import { NodePool } from './node-pool';
import { PutOptions, uploadStream } from './uploader';
import { PreparedUploadPool } from './prepared-upload-pool';
import { GetOptions, downloadFile, openFile } from './downloader';
import { writeDownload } from './download-target';
import { isFileSource } from './file-chunks';
import { defaultToken } from './credentials';
import { DEFAULT_CONTROLLER } from './endpoint';
import { ReceiveBuffers } from './receive-buffers';
import { type AbortScope, abortScope, abortable } from './abort-scope';
import { requestController } from './controller-link';
import { noDirectoryFor, withLocalErrors } from './local-errors';

export interface CairnClientOptions {
  /** `host:port`, `ws(s)://…` or `http(s)://…`; default `127.0.0.1:7700`. */
  controller?: string;
  /**
   * Chunks in flight per transfer, default 8 (of 4 MiB chunks). Memory: a put ≈ (window + 1) × chunk
   * size, a get ≈ window × chunk size; a big get of a file without a manifest hash up to
   * (2 × window + 1) × chunk size (also chunks given back but not yet hashed into the whole file's
   * SHA-256 on its thread).
   */
  window?: number;
  requestTimeoutMs?: number;
  /** Extra CA certificate(s) to trust for wss:// endpoints. */
  ca?: string | Buffer;
  /**
   * The client token (scoped, see `token create`). Default: CAIRN_TOKEN, else a local cluster's admin
   * token found at `.cairn/controller/admin-token` in this directory or a parent.
   */
  token?: string;
  /**
   * Where the client says what it does (connecting to and authenticating with the controller, failing
   * over from a node to another replica) at `debug` level. A pino logger fits; default: silent. Tokens are never logged.
   */
  log?: CairnLogger;
}

/** The little the SDK needs of a logger (pino's `Logger` has it). */
export interface CairnLogger {
  debug(fields: object, message: string): void;
}

/** Options of every call that talks to the network: aborting rejects it with E_ABORTED. */
export interface CallOptions {
  signal?: AbortSignal;
}

/** Where a put reads from: bytes in memory (a string as its UTF-8), a stream, or a file on disk. */
export type PutSource = Uint8Array | string | Readable | AsyncIterable<Uint8Array> | { path: string };

export interface StatChunk {
  index: number;
  hash: string;
  size: number;
  /** The ids of the nodes the catalog lists a copy on, whatever their state. */
  nodes: string[];
  /** Each of those nodes' state as the controller sees it: a copy on a dead node is no copy to read. */
  nodeStates: Record<string, NodeState>;
}

export type FileStat = FileInfo & { chunks: StatChunk[] };
export type ClusterStatus = Body<'cluster.info'>;

export { DEFAULT_CONTROLLER };
/**
 * Chunks in flight, of 4 MiB (docs/performance-history.md, "Changes of 26 Nov 2026, 18:25–18:35" and "21:40–22:05"). A put:
 * 8 instead of 4 gained ~6% on a 1 GiB put here. A get, checked by its manifest hash: 8 ran ~6%
 * faster than 4 to /dev/null and ~15% to a file (4 had been faster while a second thread hashed the
 * whole file, which files from before manifest hashes still have).
 */
const DEFAULT_WINDOW = 8;
const LIST_PAGE = 500;

/**
 * The Cairn SDK. One instance keeps one connection to the controller and one per storage node it
 * talks to; call `close()` when done. Every failure is a CairnError with a stable `code`.
 */
export class CairnClient {
  private controllerPeer: Promise<RpcPeer> | undefined;
  /** The connection `controllerPeer` resolved to, once it has. */
  private connected: RpcPeer | undefined;
  private readonly nodes: NodePool;
  /** Buffers chunks are read into, given back once written (recycle): a long get reuses a few. */
  private readonly receiveBuffers = new ReceiveBuffers();
  private readonly window: number;
  /** Uploads prepared for small puts, per controller connection (they are bound to it). */
  private readonly preparedPools = new WeakMap<RpcPeer, PreparedUploadPool>();
  /**
   * What a transfer that starts now follows (`transferScope`): aborted with E_AUTH once the controller
   * closes the connection it belongs to because the token was revoked, so that every transfer under way
   * stops then, not only at its next request to the controller (a get's chunks come from the nodes with
   * grants handed out before, which stay valid until they expire). It belongs to one authenticated
   * connection at a time, and to the next one once that closed for another reason (a transfer
   * outlives an idle connection). Once aborted it is replaced at once: the token is read again for each
   * new connection (CAIRN_TOKEN), and a client whose token was rotated goes on with the new one.
   */
  private revocation = newRevocation();
  /** The open connection `revocation` belongs to; none before the first, nor once it has closed. */
  private revocationHolder: RpcPeer | undefined;
  /** Aborted by `close()`: every transfer under way follows it, and nothing starts after it. */
  private readonly closing = new AbortController();

  constructor(private readonly options: CairnClientOptions = {}) {
    checkOptions(options);
    setMaxListeners(Infinity, this.closing.signal); // one per transfer under way, removed as it ends
    this.window = options.window ?? DEFAULT_WINDOW;
    this.nodes = new NodePool({ requestTimeoutMs: options.requestTimeoutMs, ca: options.ca, receiveBuffers: this.receiveBuffers });
  }

  /** Stores `source` under `name`, replacing any file of that name atomically once every chunk is durable. */
  async put(name: string, source: PutSource, options: PutOptions = {}): Promise<FileInfo> {
    this.requireOpen();
    validateName(name);
    const stream = isFileSource(source) ? source : toIterable(source);
    const scope = this.transferScope(options.signal);
    try {
      return await uploadStream(this.transferContext(), name, stream, { ...options, signal: scope.signal });
    } catch (err) {
      throw scope.failure(err);
    } finally {
      scope.close();
      if (stream instanceof Readable) stream.destroy();
    }
  }

  /**
   * The file's bytes as a stream; it errors with E_CORRUPT if they are not the file committed
   * (downloader.ts). Each chunk is handed over as a copy of its own and the buffer it was received into
   * is reused at once: a stream's consumer cannot say when it is done with a chunk, and received
   * buffers are shared memory, which V8 does not count, so chunks left to the garbage collector piled
   * up to the file's size before a full collection came (a slow reader of a 300 MiB file held ~300
   * MiB). A copy is memory V8 counts and collects in time. `read()` with `recycle()` avoids the copy.
   */
  get(name: string, options: GetOptions = {}): Readable {
    return Readable.from(this.copiedOut(this.read(name, options)), { objectMode: false });
  }

  private async *copiedOut(chunks: AsyncGenerator<Buffer>): AsyncGenerator<Buffer> {
    for await (const chunk of chunks) {
      const copy = Buffer.from(chunk);
      this.recycle(chunk);
      yield copy;
    }
  }

  /** The file's bytes as an async iterator of verified chunks. */
  async *read(name: string, options: GetOptions = {}): AsyncGenerator<Buffer> {
    this.requireOpen();
    validateName(name);
    const ctx = this.transferContext();
    const scope = this.transferScope(options.signal);
    try {
      yield* downloadFile(ctx, await openFile(ctx, name, scope.signal), { ...options, signal: scope.signal });
    } catch (err) {
      throw scope.failure(err);
    } finally {
      scope.close();
    }
  }

  /**
   * Downloads to a local path: a new path or a regular file atomically (temp file, fsync, rename), so
   * `dest` is never left half-written; through a symbolic link into its target; into a device or a
   * FIFO in place, never replacing it; a directory is refused with E_USAGE. With `plainPath`, a link,
   * device or FIFO at `dest` is replaced instead (download-target.ts).
   */
  async getToFile(name: string, dest: string, options: GetOptions & { plainPath?: boolean } = {}): Promise<FileInfo> {
    this.requireOpen();
    validateName(name);
    const ctx = this.transferContext();
    const scope = this.transferScope(options.signal);
    try {
      const opened = await openFile(ctx, name, scope.signal);
      const chunks = downloadFile(ctx, opened, { ...options, signal: scope.signal });
      const written = writeDownload(dest, chunks, { onWritten: (chunk) => this.recycle(chunk), plainPath: options.plainPath });
      await withLocalErrors(`write ${dest}`, written, noDirectoryFor(dest));
      return opened.file;
    } catch (err) {
      throw scope.failure(err);
    } finally {
      scope.close();
    }
  }

  /**
   * Gives back a chunk that `read()` (or `get()`) yielded, once nothing will read it again: its memory
   * then holds a later chunk instead of waiting for the garbage collector, which keeps a long read's
   * memory flat. Optional; a chunk never given back is collected as usual.
   */
  recycle(chunk: Uint8Array): void {
    this.receiveBuffers.give(chunk);
  }

  stat(name: string, options: { withChunks: false } & CallOptions): Promise<FileInfo>;
  stat(name: string, options?: { withChunks?: true } & CallOptions): Promise<FileStat>;
  async stat(name: string, options: { withChunks?: boolean } & CallOptions = {}): Promise<FileInfo | FileStat> {
    validateName(name);
    const { signal } = options;
    const file = expectFrame(await this.readRequest('file.stat', { name }, signal), 'file.info').body.file;
    if (options.withChunks === false) return file;
    const chunks: StatChunk[] = [];
    for (let from = 0; from < file.chunkCount; from += LIST_PAGE) {
      const page = expectFrame(await this.readRequest('file.chunks', { name, fileId: file.id, from, limit: LIST_PAGE }, signal), 'file.chunk-page');
      if (page.body.chunks.length === 0) throw new CairnError('E_NOT_FOUND', `${name} changed while it was being read`);
      for (const c of page.body.chunks) {
        chunks.push({ index: c.index, hash: c.hash, size: c.size, nodes: c.nodes.map((n) => n.id), nodeStates: Object.fromEntries(c.nodes.map((n) => [n.id, n.state])) });
      }
    }
    return { ...file, chunks };
  }

  /** Files whose names start with `prefix` (a plain string), in name order, fetched page by page. */
  async *ls(prefix = '', options: CallOptions = {}): AsyncGenerator<FileInfo> {
    validatePrefix(prefix);
    let after: string | undefined;
    for (;;) {
      const page = expectFrame(await this.readRequest('file.list', { prefix, after, limit: LIST_PAGE }, options.signal), 'file.list-page').body;
      yield* page.files;
      if (!page.next) return;
      after = page.next;
    }
  }

  /**
   * A request that only reads, on the connection of the moment, sent again once on a new one if its
   * own closed first: a caller paging slowly through `ls` or `stat` may outlive a connection the
   * controller closed as idle (controller-link.ts).
   */
  private readRequest<T extends ControlType>(type: T, body: Body<T>, signal?: AbortSignal): Promise<Frame> {
    return requestController((s) => this.controller(s), type, body, { signal, repeatable: true });
  }

  async rm(name: string, options: CallOptions = {}): Promise<FileInfo> {
    validateName(name);
    return (await this.ask('file.remove', { name }, 'file.info', options)).file;
  }

  async nodesInfo(options: CallOptions = {}): Promise<NodeInfo[]> {
    return (await this.ask('nodes.list', {}, 'nodes.info', options)).nodes;
  }

  async status(options: CallOptions = {}): Promise<ClusterStatus> {
    return this.ask('cluster.status', {}, 'cluster.info', options);
  }

  /** Admin: creates a token limited to `scope` (and to names under `prefix`); the token is shown only here. */
  async createToken(scope: 'read' | 'write' | 'admin', prefix?: string, options: CallOptions = {}): Promise<{ id: string; token: string }> {
    if (prefix !== undefined) validateTokenPrefix(prefix);
    return this.ask('token.create', { scope, prefix }, 'token.created', options);
  }

  /** Admin: every token's id, scope, prefix and state (never the secrets, which are not kept). */
  async listTokens(options: CallOptions = {}): Promise<Body<'token.listed'>['tokens']> {
    return (await this.ask('token.list', {}, 'token.listed', options)).tokens;
  }

  /** Admin: revokes a token; connections using it are closed at once. */
  async revokeToken(id: string, options: CallOptions = {}): Promise<void> {
    await this.ask('token.revoke', { id }, 'ack', options);
  }

  /** Admin: marks a node draining (its chunks are re-replicated elsewhere, it gets no new ones) or not. */
  async drain(nodeId: string, draining = true, options: CallOptions = {}): Promise<void> {
    await this.ask('node.drain', { nodeId, draining }, 'ack', options);
  }

  /**
   * Admin: forgets a dead node gone for good: it is no longer listed, and its copies (which count for
   * nothing once it is dead) are unlisted. E_USAGE for a node not dead; one that comes back registers again.
   */
  async forgetNode(nodeId: string, options: CallOptions = {}): Promise<void> {
    await this.ask('node.forget', { nodeId }, 'ack', options);
  }

  /**
   * Ends the client: transfers under way fail with E_ABORTED, every connection is closed, and any call
   * after it fails with E_USAGE (a process whose client is closed can exit). Closing again does nothing.
   */
  async close(): Promise<void> {
    this.closing.abort(new CairnError('E_ABORTED', 'the client was closed'));
    const controller = this.controllerPeer;
    this.controllerPeer = undefined;
    this.connected = undefined;
    await this.nodes.close();
    if (controller) await controller.then((peer) => peer.close(1000, '', { discardQueued: true })).catch(() => undefined);
  }

  /** One request to the controller and its answer's body, which must be of type `answer`. */
  private async ask<T extends ControlType, A extends ControlType>(type: T, body: Body<T>, answer: A, { signal }: CallOptions): Promise<Body<A>> {
    const controller = await this.controller(signal);
    return (expectFrame(await controller.request(type, body, { signal }), answer) as ControlFrame<A>).body;
  }

  /**
   * The controller connection, authenticated with the token before any other request. It is shared:
   * a caller's `signal` stops that caller's wait (E_ABORTED), never the connection others wait for.
   */
  private requireOpen(): void {
    if (this.closing.signal.aborted) throw new CairnError('E_USAGE', 'this CairnClient was closed: make a new one');
  }

  private controller(signal?: AbortSignal): Promise<RpcPeer> {
    try {
      this.requireOpen();
    } catch (err) {
      return Promise.reject(err);
    }
    // A closed connection is dropped here too, not only once its close is handled: a transfer's request
    // that failed with the close asks for a connection again before that (controller-link.ts).
    if (this.controllerPeer && this.connected?.isOpen === false) this.dropController(this.controllerPeer);
    if (!this.controllerPeer) {
      const connecting = this.connectAndAuthenticate();
      this.controllerPeer = connecting;
      connecting.then(
        (peer) => {
          if (this.controllerPeer === connecting) this.connected = peer;
          const revocation = this.takeRevocation(peer);
          void peer.closed.then((reason) => {
            this.log?.debug({ controller: this.endpoint, reason: reason.message }, 'controller connection closed');
            if (this.revocationHolder === peer) this.revocationHolder = undefined;
            if (reason.details?.closeCode === CLOSE_CODES.tokenRevoked) this.revoke(revocation);
            this.dropController(connecting);
          });
        },
        () => this.dropController(connecting),
      );
    }
    return signal ? abortable(this.controllerPeer, signal) : this.controllerPeer;
  }

  private async connectAndAuthenticate(): Promise<RpcPeer> {
    const token = this.options.token ?? defaultToken(process.env, process.cwd(), this.endpoint);
    if (!token) {
      throw new CairnError('E_AUTH', 'no token: set CAIRN_TOKEN (or, for a controller on this machine, run next to its cluster, whose admin token is found in .cairn/controller)');
    }
    const started = Date.now();
    this.log?.debug({ controller: this.endpoint }, 'connecting to the controller');
    let peer: RpcPeer;
    try {
      peer = await connectPeer(this.endpoint, { requestTimeoutMs: this.options.requestTimeoutMs, ca: this.options.ca });
    } catch (err) {
      this.log?.debug({ controller: this.endpoint, code: (err as CairnError).code }, 'cannot connect to the controller');
      throw err;
    }
    try {
      const session = expectFrame(await peer.request('session.auth', { token }), 'session.info').body;
      this.log?.debug({ controller: this.endpoint, scope: session.scope, prefix: session.prefix, ms: Date.now() - started }, 'connected and authenticated');
    } catch (err) {
      this.log?.debug({ controller: this.endpoint, code: (err as CairnError).code }, 'the controller refused the session');
      peer.close();
      throw err;
    }
    return peer;
  }

  private dropController(peer: Promise<RpcPeer>): void {
    if (this.controllerPeer !== peer) return;
    this.controllerPeer = undefined;
    this.connected = undefined;
  }

  /**
   * The revocation a connection just authenticated belongs to: the current one, which the transfers
   * started meanwhile follow, unless another connection still holds it. That one may have been closed
   * for a revoked token without the close being seen yet (`ws` tells it only once the TCP connection
   * has closed), and must not take the transfers of this one with it.
   */
  private takeRevocation(peer: RpcPeer): AbortController {
    if (this.revocationHolder !== undefined) this.revocation = newRevocation();
    this.revocationHolder = peer;
    return this.revocation;
  }

  /** Stops the transfers that follow `revocation`; those that start from now on follow the next connection's. */
  private revoke(revocation: AbortController): void {
    if (this.revocation === revocation) this.revocation = newRevocation();
    revocation.abort(new CairnError('E_AUTH', 'the token was revoked'));
  }

  /**
   * A transfer's signal: it aborts when the caller's does, when the token is revoked (`revocation`, as
   * it is now), or when the client is closed. `failure` says what a transfer that failed reports: the
   * revocation or the close, if one came meanwhile (the failure is then its doing); never a revocation
   * that came to a connection it did not start under.
   */
  private transferScope(signal: AbortSignal | undefined): AbortScope & { failure: (err: unknown) => unknown } {
    const revocation = this.revocation.signal;
    const closing = this.closing.signal;
    const failure = (err: unknown) => (revocation.aborted ? revocation.reason : closing.aborted ? closing.reason : err);
    return { ...abortScope(signal, revocation, closing), failure };
  }

  /** What the uploader and downloader need; a request's `signal` also covers waiting for the controller connection. */
  private transferContext() {
    return {
      controller: (signal?: AbortSignal) => this.controller(signal),
      prepared: (controller: RpcPeer) => this.preparedPool(controller),
      nodes: this.nodes,
      window: this.window,
      holdUntil: (chunk: Buffer, until: Promise<unknown>) => this.receiveBuffers.holdUntil(chunk, until),
      log: this.log,
    };
  }

  private preparedPool(controller: RpcPeer): PreparedUploadPool {
    let pool = this.preparedPools.get(controller);
    if (!pool) {
      pool = new PreparedUploadPool(controller);
      this.preparedPools.set(controller, pool);
    }
    return pool;
  }

  private get endpoint(): string {
    return this.options.controller ?? DEFAULT_CONTROLLER;
  }

  private get log(): CairnLogger | undefined {
    return this.options.log;
  }
}

function newRevocation(): AbortController {
  const revocation = new AbortController();
  setMaxListeners(Infinity, revocation.signal); // one per transfer under way, removed as it ends
  return revocation;
}

function toIterable(source: Exclude<PutSource, { path: string }>): Readable | AsyncIterable<Uint8Array> {
  if (source instanceof Uint8Array) return Readable.from([source], { objectMode: false });
  if (typeof source === 'string') return Readable.from([Buffer.from(source, 'utf8')], { objectMode: false });
  const iterable = source as Partial<AsyncIterable<Uint8Array> & Iterable<Uint8Array>> | null;
  if (typeof iterable?.[Symbol.asyncIterator] !== 'function' && typeof iterable?.[Symbol.iterator] !== 'function') {
    throw new CairnError('E_USAGE', 'a put reads bytes (a Buffer, a Uint8Array or a string), a Readable, an iterable of bytes, or {path}');
  }
  return source;
}

/** Options a caller got wrong fail here (E_USAGE), not as a bug in the first transfer. */
function checkOptions({ window, requestTimeoutMs, controller, token }: CairnClientOptions): void {
  if (window !== undefined && !(Number.isInteger(window) && window >= 1 && window <= MAX_REQUESTS_IN_FLIGHT)) {
    throw new CairnError('E_USAGE', `window must be a whole number of chunks from 1 to ${MAX_REQUESTS_IN_FLIGHT}, got ${String(window)}`);
  }
  if (requestTimeoutMs !== undefined && !(Number.isInteger(requestTimeoutMs) && requestTimeoutMs >= 1 && requestTimeoutMs <= MAX_TIMER_MS)) {
    throw new CairnError('E_USAGE', `requestTimeoutMs must be a whole number of ms from 1 to ${MAX_TIMER_MS} (24.8 days), got ${String(requestTimeoutMs)}`);
  }
  if (controller !== undefined && (typeof controller !== 'string' || controller === '')) throw new CairnError('E_USAGE', 'controller must be host:port or a ws(s):// or http(s):// URL');
  if (token !== undefined && (typeof token !== 'string' || token === '')) throw new CairnError('E_USAGE', 'token must be a non-empty string');
}
