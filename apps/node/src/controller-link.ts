import { KeyObject, createPublicKey, randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { CairnError, MAX_PAGE, NONCE_BYTES, controllerProof, nodeProof, proofsEqual, toCairnError, type Frame } from '@cairn/protocol';
import type { ChunkStore } from '@cairn/chunk-store';
import { RpcPeer, RequestHandler, connectPeer, expectFrame, type Reply } from '@cairn/transfer';

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
}

const RECONNECT_MIN_MS = 100;
const RECONNECT_MAX_MS = 5_000;

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
  private registeredOnce = false;
  private grantPublicKey: KeyObject | undefined;
  /** Deletions the controller asked for that are still running, whatever connection they came on. */
  private readonly deletions = new Set<Promise<unknown>>();
  /** Connections whose controller has proved it knows the cluster secret: the only ones whose orders are served. */
  private readonly proven = new WeakSet<RpcPeer>();

  constructor(private readonly options: ControllerLinkOptions) {}

  get registered(): boolean {
    return this.registeredOnce;
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

  /** Tells the controller about a chunk moved to quarantine (best effort: the next report also shows it gone). */
  notifyQuarantined(hash: string, reason: string): void {
    const peer = this.peer;
    if (!peer?.isOpen) return;
    peer.request('chunk.quarantined', { hash, reason }).catch((err) => {
      this.options.log.warn({ hash, code: toCairnError(err).code }, 'could not report a quarantined chunk');
    });
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
        this.report(peer).catch((err) => {
          this.options.log.warn({ code: toCairnError(err).code }, `chunk report failed: ${toCairnError(err).message}`);
          peer.close(); // reconnect and report again: the controller must not keep a partial view
        });
        await this.heartbeatUntilClosed(peer, heartbeatMs);
      } catch (err) {
        if (this.stopped) return;
        this.options.log.warn({ code: toCairnError(err).code }, `controller link: ${toCairnError(err).message}`);
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
      throw new CairnError('E_AUTH', 'the controller could not prove it knows the cluster secret');
    }
    this.proven.add(peer);
    this.grantPublicKey = createPublicKey(challenge.grantPublicKey);
    const proof = nodeProof(clusterSecret, transcript);
    const answer = await peer.request('node.register', { nodeId, address, zone, ...store.stats(), proof });
    const { heartbeatMs } = expectFrame(answer, 'node.registered').body;
    this.registeredOnce = true;
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
   * before this report began, must not delete a chunk after the listing has shown it.
   */
  private async report(peer: RpcPeer): Promise<void> {
    await Promise.all([...this.deletions]);
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
    this.options.log.info({ chunks: total }, 'chunk report sent');
  }

  private async heartbeatUntilClosed(peer: RpcPeer, heartbeatMs: number): Promise<void> {
    while (!this.stopped && peer.isOpen) {
      await this.pause(heartbeatMs);
      if (this.stopped || !peer.isOpen) return;
      expectFrame(await peer.request('node.heartbeat', this.options.store.stats(), { timeoutMs: 10_000 }), 'ack');
    }
  }
}
