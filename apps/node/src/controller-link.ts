import { KeyObject, createPublicKey, randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { CairnError, MAX_PAGE, NONCE_BYTES, controllerProof, nodeProof, proofsEqual, toCairnError, type Body, type ErrorCode, type Frame } from '@cairn/protocol';
import type { ChunkStore } from '@cairn/chunk-store';
import { RpcPeer, RequestHandler, connectPeer, expectFrame, type Reply } from '@cairn/transfer';
import { MAX_UNACKNOWLEDGED_QUARANTINES, UnacknowledgedQuarantines, type QuarantineNote } from './unacknowledged-quarantines';

export interface ControllerLinkOptions {
  controller: string;
  nodeId: string;
  address: string;
  zone: string | null;
  store: ChunkStore;
  log: Logger;
  /** Serves what the controller asks of this node (repair copies, deletions, checks). */
  onRequest: RequestHandler;
  /** The cluster secret: proves this node to the controller and the controller to it. */
  clusterSecret: string;
  /** Extra CA certificate to trust when the controller serves wss://. */
  ca?: Buffer;
  /** The first wait before reporting again a quarantine the controller did not acknowledge (QUARANTINE_RETRY_MIN_MS; tests shorten it). */
  quarantineRetryMs?: number;
  /** Told the cluster id a proven controller gave, before registering: refuses (throws) to bring this node's chunks to another cluster. */
  membership?: { join(clusterId: string): Promise<void> };
}

const RECONNECT_MIN_MS = 100;
const RECONNECT_MAX_MS = 5_000;

/** Waits before reporting again quarantines the controller did not acknowledge: doubling from the first to the second. */
const QUARANTINE_RETRY_MIN_MS = 2_000;
const QUARANTINE_RETRY_MAX_MS = 30_000;
/** Quarantines reported in one go, one request at a time, before the next go. */
const QUARANTINE_REPORT_BATCH = 32;
const QUARANTINE_REPORT_TIMEOUT_MS = 10_000;
/** A page of the chunks listed on this node: an index range on the controller, answered in milliseconds. */
const LISTED_CHUNKS_TIMEOUT_MS = 10_000;

/**
 * What a quarantine report that failed comes to, by its error's code (`afterFailedReport`):
 * - `drop`: the controller refused this report itself and would refuse it again: its body is not valid
 *   to it, or it knows no such message or chunk. Forgotten, with a warning: the chunk report of the
 *   next connection, which lacks the chunk, tells the controller all the same.
 * - `stop`: the link failed (closed, no answer in time) or this connection may not speak for the node
 *   (E_AUTH, E_FORBIDDEN: replaced by another). No other report would fare better now: the batch ends,
 *   and the next try waits (or a new connection tries at once).
 * - `later`: the controller failed on this report (its catalog, say). The rest of the batch still goes
 *   out; this one is tried again after the wait.
 * A report stopped or left for later goes behind the others, so that one the controller can never take
 * does not hold back those noted after it until the next reconnect.
 */
type FailedReport = 'drop' | 'stop' | 'later';

const REFUSED_FOR_GOOD: ReadonlySet<ErrorCode> = new Set(['E_BAD_MESSAGE', 'E_FRAME_MALFORMED', 'E_FRAME_TOO_LARGE', 'E_UNKNOWN_TYPE', 'E_NOT_FOUND']);
const LINK_FAILED: ReadonlySet<ErrorCode> = new Set(['E_UNAVAILABLE', 'E_TIMEOUT', 'E_ABORTED', 'E_VERSION', 'E_AUTH', 'E_FORBIDDEN']);

function afterFailedReport(code: ErrorCode): FailedReport {
  if (REFUSED_FOR_GOOD.has(code)) return 'drop';
  return LINK_FAILED.has(code) ? 'stop' : 'later';
}

/**
 * Keeps the node registered with the controller: connect, register, report every stored chunk (in
 * pages, while heartbeats go on), heartbeat with current usage, and on any failure reconnect with
 * capped exponential backoff. The node keeps serving chunks meanwhile. The same connection carries the
 * controller's requests to this node.
 */
export class ControllerLink {
  private stopped = false;
  private peer: RpcPeer | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Ends the current pause early (`stop`). */
  private wake: (() => void) | undefined;
  private grantPublicKey: KeyObject | undefined;
  /** Deletions the controller asked for that are still running, whatever connection they came on. */
  private readonly deletions = new Set<Promise<unknown>>();
  /** Connections whose controller has proved it knows the cluster secret: the only ones whose orders are served. */
  private readonly proven = new WeakSet<RpcPeer>();
  /** The connection the node last registered over: the one quarantines are reported on, and `registered` while open. */
  private registeredPeer: RpcPeer | undefined;
  /** Quarantined chunks the controller has not heard of yet (`notifyQuarantined`). */
  private readonly unacknowledged = new UnacknowledgedQuarantines();
  private sendingQuarantines = false;
  private quarantineRetry: NodeJS.Timeout | undefined;
  private readonly firstQuarantineRetryMs: number;
  private quarantineBackoff: number;

  constructor(private readonly options: ControllerLinkOptions) {
    this.firstQuarantineRetryMs = options.quarantineRetryMs ?? QUARANTINE_RETRY_MIN_MS;
    this.quarantineBackoff = this.firstQuarantineRetryMs;
  }

  /** Registered right now: the connection the node last registered over is still open (README: `/readyz`). */
  get registered(): boolean {
    return this.registeredPeer?.isOpen ?? false;
  }

  /** The controller's grant key, once a handshake has authenticated it. */
  get grantKey(): KeyObject | undefined {
    return this.grantPublicKey;
  }

  start(): void {
    void this.run();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.quarantineRetry) clearTimeout(this.quarantineRetry);
    this.wake?.(); // the pause cleared above ends now, so `run` sees `stopped` and returns
    this.peer?.close();
  }

  /** Waits `ms` between reconnects or heartbeats; `stop` ends the wait at once. */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
      this.timer = setTimeout(resolve, ms);
    });
  }

  /**
   * Tells the controller about a chunk moved to quarantine: until it hears of it, it counts the copy as
   * healthy. The chunk is reported at once if the link is up, and again with backoff until the
   * controller acknowledges it or refuses it for good (`FailedReport`), or until a chunk report (on the
   * next connection) that lacks it is sent.
   */
  notifyQuarantined(hash: string, reason: string): void {
    const forgotten = this.unacknowledged.add(hash, reason);
    if (forgotten !== undefined) {
      this.options.log.warn({ hash: forgotten, kept: MAX_UNACKNOWLEDGED_QUARANTINES }, 'too many quarantined chunks unacknowledged by the controller: the oldest is forgotten (the next chunk report covers it)');
    }
    this.sendQuarantines();
  }

  /**
   * Reports unacknowledged quarantines over the registered connection, a batch at a time and one
   * request at a time, so that a busy controller is not flooded. After a failure the next try waits,
   * twice as long each time; a new connection tries at once.
   */
  private sendQuarantines(): void {
    const peer = this.registeredPeer;
    if (this.stopped || this.sendingQuarantines || this.quarantineRetry || !peer?.isOpen || this.unacknowledged.size === 0) return;
    this.sendingQuarantines = true;
    void this.reportQuarantineBatch(peer).then((allSent) => {
      this.sendingQuarantines = false;
      if (allSent) {
        this.quarantineBackoff = this.firstQuarantineRetryMs;
      } else if (!this.stopped && peer === this.registeredPeer && peer.isOpen) {
        // Unref'd: a pending retry must not keep the process alive.
        this.quarantineRetry = setTimeout(() => {
          this.quarantineRetry = undefined;
          this.sendQuarantines();
        }, this.quarantineBackoff).unref();
        this.quarantineBackoff = Math.min(this.quarantineBackoff * 2, QUARANTINE_RETRY_MAX_MS);
        return;
      }
      this.sendQuarantines(); // the next batch, or the notes made meanwhile, or over a new connection
    });
  }

  /**
   * Reports the oldest batch of unacknowledged quarantines; false (never a rejection) if one is left to
   * try again (`FailedReport`).
   */
  private async reportQuarantineBatch(peer: RpcPeer): Promise<boolean> {
    let allSent = true;
    for (const note of this.unacknowledged.oldest(QUARANTINE_REPORT_BATCH)) {
      if (this.stopped || !peer.isOpen) return false;
      try {
        await this.reportQuarantine(peer, note);
        this.unacknowledged.acknowledged(note);
      } catch (err) {
        const outcome = this.failedReport(note, toCairnError(err));
        if (outcome === 'stop') return false;
        if (outcome === 'later') allSent = false;
      }
    }
    return allSent;
  }

  /** Forgets or postpones a report that failed, and says which (`FailedReport`). */
  private failedReport(note: QuarantineNote, { code, message }: CairnError): FailedReport {
    const outcome = afterFailedReport(code);
    const { log } = this.options;
    if (outcome === 'drop') {
      this.unacknowledged.refused(note);
      log.warn({ hash: note.hash, code }, `the controller refused a quarantined chunk's report: dropped (the next chunk report covers it): ${message}`);
    } else {
      this.unacknowledged.postpone(note);
      log.warn({ hash: note.hash, code, waiting: this.unacknowledged.size }, `could not report a quarantined chunk (will try again): ${message}`);
    }
    return outcome;
  }

  private async reportQuarantine(peer: RpcPeer, { hash, reason }: QuarantineNote): Promise<void> {
    // Stored again since (a put, verified): the copy here is a good one, which the controller must not forget.
    if (await this.options.store.has(hash)) return;
    expectFrame(await peer.request('chunk.quarantined', { hash, reason }, { timeoutMs: QUARANTINE_REPORT_TIMEOUT_MS }), 'ack');
  }

  /**
   * A page of the chunks the controller's catalog lists on this node (`node.chunks`), asked over the
   * registered connection: E_UNAVAILABLE while there is none.
   */
  async listedChunks(after: string | undefined, limit: number, signal: AbortSignal): Promise<Body<'node.chunk-page'>> {
    const peer = this.registeredPeer;
    if (this.stopped || !peer?.isOpen) throw new CairnError('E_UNAVAILABLE', 'not registered with the controller');
    return expectFrame(await peer.request('node.chunks', { after, limit }, { signal, timeoutMs: LISTED_CHUNKS_TIMEOUT_MS }), 'node.chunk-page').body;
  }

  /** Once registered over a new connection: quarantines still unacknowledged are reported there at once. */
  private reportQuarantinesOver(peer: RpcPeer): void {
    this.registeredPeer = peer;
    if (this.quarantineRetry) clearTimeout(this.quarantineRetry);
    this.quarantineRetry = undefined;
    this.quarantineBackoff = this.firstQuarantineRetryMs;
    this.sendQuarantines();
  }

  private async run(): Promise<void> {
    let backoff = RECONNECT_MIN_MS;
    while (!this.stopped) {
      try {
        const peer = await connectPeer(this.options.controller, {
          connectTimeoutMs: 5_000,
          requestTimeoutMs: 10_000,
          onRequest: (frame, from) => this.serve(frame, from),
          ca: this.options.ca,
        });
        this.peer = peer;
        const heartbeatMs = await this.register(peer);
        backoff = RECONNECT_MIN_MS;
        this.reportQuarantinesOver(peer);
        this.report(peer).catch((err) => {
          this.options.log.warn({ code: toCairnError(err).code }, `chunk report failed: ${toCairnError(err).message}`);
          peer.close(); // reconnect and report again: the controller must not keep a partial view
        });
        await this.heartbeatUntilClosed(peer, heartbeatMs);
      } catch (err) {
        if (this.stopped) return;
        const { code, message } = toCairnError(err);
        // A refusal to join is no passing trouble of the link: said as an error, at every try.
        if (code === 'E_FORBIDDEN') this.options.log.error({ code }, `controller link: ${message}`);
        else this.options.log.warn({ code }, `controller link: ${message}`);
      }
      this.peer?.close();
      if (this.stopped) return;
      await this.pause(backoff);
      backoff = Math.min(backoff * 2, RECONNECT_MAX_MS);
    }
  }

  /**
   * The handshake (docs/security.md): hello with our nonce; the controller answers with its nonce, its
   * grant key and a proof over both; we check it, then register with our own proof.
   */
  private async register(peer: RpcPeer): Promise<number> {
    const { nodeId, address, zone, store, clusterSecret } = this.options;
    const nodeNonce = randomBytes(NONCE_BYTES).toString('hex');
    const challenge = expectFrame(await peer.request('node.hello', { nodeId, nonce: nodeNonce }), 'node.challenge').body;
    const transcript = { nodeId, nodeNonce, controllerNonce: challenge.nonce, grantPublicKey: challenge.grantPublicKey };
    if (!proofsEqual(controllerProof(clusterSecret, transcript), challenge.proof)) {
      throw new CairnError('E_AUTH', 'the controller could not prove it knows the cluster secret (a wrong secret, or a controller of another Cairn version)');
    }
    if (challenge.clusterId !== undefined) await this.options.membership?.join(challenge.clusterId);
    this.proven.add(peer);
    this.grantPublicKey = createPublicKey(challenge.grantPublicKey);
    const proof = nodeProof(clusterSecret, transcript);
    const answer = await peer.request('node.register', { nodeId, address, zone, ...store.stats(), proof });
    const { heartbeatMs } = expectFrame(answer, 'node.registered').body;
    this.options.log.info({ controller: this.options.controller, nodeId }, 'registered with the controller');
    return heartbeatMs;
  }

  /**
   * Whoever answers at the controller's address (a local user on its port while it is down, or a man
   * in the middle of plain ws://) can send orders as soon as the socket opens: none is served before
   * this connection's controller has proved it knows the cluster secret.
   */
  private serve(frame: Frame, from: RpcPeer): Promise<Reply> {
    if (!this.proven.has(from)) return Promise.reject(this.unproven(frame));
    const reply = Promise.resolve(this.options.onRequest(frame, from));
    if (frame.type !== 'chunk.delete') return reply;
    const running = reply.catch(() => undefined).finally(() => this.deletions.delete(running));
    this.deletions.add(running);
    return reply;
  }

  /** E_AUTH, as the controller answers node requests before the handshake: the sender is unauthenticated. */
  private unproven(frame: Frame): CairnError {
    this.options.log.warn({ type: frame.type, controller: this.options.controller }, 'refused an order from a controller that has not proved itself');
    return new CairnError('E_AUTH', `${frame.type} refused: the controller has not proved it knows the cluster secret`);
  }

  /**
   * Streams the list of stored chunks to the controller, a page at a time. It starts once deletions
   * asked for over an earlier connection have finished: one of those, unlisted by the controller
   * before this report began, must not delete a chunk after the listing has shown it. The listing
   * walks `chunks/` only, never `quarantine/`: once it is sent, the controller knows every chunk
   * quarantined before it began is gone from here, and those need no report of their own.
   */
  private async report(peer: RpcPeer): Promise<void> {
    await Promise.all([...this.deletions]);
    const quarantinedBefore = this.unacknowledged.mark(); // notes come after the file has left chunks/
    let page: string[] = [];
    let first = true;
    let total = 0;
    const send = async (done: boolean) => {
      expectFrame(await peer.request('node.report', { hashes: page, first, done }, { timeoutMs: 60_000 }), 'ack');
      total += page.length;
      page = [];
      first = false;
    };
    for await (const { hash } of this.options.store.list()) {
      page.push(hash);
      if (page.length === MAX_PAGE) await send(false);
    }
    await send(true);
    const covered = this.unacknowledged.coveredBy(quarantinedBefore);
    this.options.log.info({ chunks: total, quarantinesCovered: covered }, 'chunk report sent');
  }

  private async heartbeatUntilClosed(peer: RpcPeer, heartbeatMs: number): Promise<void> {
    while (!this.stopped && peer.isOpen) {
      await this.pause(heartbeatMs);
      if (this.stopped || !peer.isOpen) return;
      expectFrame(await peer.request('node.heartbeat', this.options.store.stats(), { timeoutMs: 10_000 }), 'ack');
    }
  }
}
