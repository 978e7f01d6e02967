import type WebSocket from 'ws';
import {
  Body,
  CairnError,
  ControlType,
  Frame,
  MAX_REQUEST_ID,
  MAX_REQUESTS_ANSWERED_AT_ONCE,
  MAX_REQUESTS_IN_FLIGHT,
  concatFrame,
  decodeFrame,
  encodeControl,
  encodeData,
  encodeError,
  errorFromWire,
  isResponseType,
  toCairnError,
} from '@cairn/protocol';
import type { InboundBudget } from './inbound-budget';
import { ReadPauses } from './read-pauses';
import { sendJoined } from './joined-send';
import { OPEN, WebSocketConnection } from './websocket-connection';
import { Window } from './window';

/** What a request handler answers: a control body of some response type, or a chunk of data. */
export type Reply =
  | { [K in ControlType]: { type: K; body: Body<K> } }[ControlType]
  | {
      type: 'chunk.data';
      hash: string;
      payload: Uint8Array;
      /**
       * Told once, when nothing here reads the payload again (to recycle its memory): it was handed to
       * the socket and written, or it never will be (the connection closed first, the write failed).
       */
      release?: () => void;
    };

export type RequestHandler = (frame: Frame, peer: RpcPeer) => Promise<Reply> | Reply;

export interface RequestOptions {
  signal?: AbortSignal;
  /** Default: the peer's `requestTimeoutMs`. */
  timeoutMs?: number;
}

export interface RpcPeerOptions {
  /** Answers requests that arrive from the other side; without one, requests get E_UNKNOWN_TYPE. */
  onRequest?: RequestHandler;
  requestTimeoutMs?: number;
  /**
   * Our requests in flight at most (sent, or being sent, and not answered); more wait their turn.
   * Default MAX_REQUESTS_IN_FLIGHT, what the other side takes (tests of its refusal set more).
   */
  maxRequestsInFlight?: number;
  /** Pause sending while the socket buffers more than this many bytes (backpressure). */
  maxBufferedBytes?: number;
  /** Told about frames that could not even be attributed to a request (then the socket is closed). */
  onProtocolError?: (err: CairnError) => void;
  /**
   * Counts each request received against this budget until its handler is done, and stops reading
   * this connection while the budget is exceeded (a server's connections, which carry requests to us).
   */
  inboundBudget?: InboundBudget;
  /**
   * Given each message received once nothing here reads it again: a request's once its handler is done
   * with it (its answer may still wait for the socket), anything undecodable or unexpected at once (a
   * server's receive memory takes it back). Never a response handed to the request that waited for it:
   * that is the requester's.
   */
  recycle?: (message: Buffer) => void;
}

/**
 * The WebSocket an RpcPeer runs over: `ws`'s (the SDK's and a node's connections to the controller),
 * or Cairn's own: LeanWebSocket to a storage node, AcceptedWebSocket on every server.
 */
export type PeerSocket = WebSocket | WebSocketConnection;

/** The events RpcPeer listens to, which both kinds of socket emit with the same arguments. */
interface PeerSocketEvents {
  on(event: 'message', listener: (data: Buffer, isBinary: boolean) => void): unknown;
  on(event: 'close', listener: (code: number, reason: Buffer) => void): unknown;
  /** Cairn's own sockets only: the other end's close frame arrived (`ws` has no such event; see `isOpen`). */
  on(event: 'closing', listener: (code: number, reason: Buffer) => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
}

interface Pending {
  resolve: (frame: Frame) => void;
  reject: (err: CairnError) => void;
  /** Where its bytes stand on the socket, in the order sent (`sent`). */
  order: number;
}

/** A request sent and not settled yet, as its timeout sees it (`RpcPeer.sent`). */
interface SentRequest {
  /**
   * When an answer last counted as progress for it: one to a request sent before it (which stood
   * ahead of it on the wire), or one to a later request while `laterAnswersLeft` lasted.
   */
  answeredAt: number;
  /** Answers to later requests that may still count for it, until one to an earlier request comes. */
  laterAnswersLeft: number;
}

/**
 * Answers to requests sent after a request that count as progress for it, between two answers to
 * requests sent before it. A peer may answer out of order (a node's reads finish on two threads in
 * any order, and it answers up to 8 reads at once): a request overtaken by a few is not stalled.
 * One overtaken for ever, by heartbeats say, is: it fails after this many and its timeout.
 */
const LATER_ANSWERS_COUNTED = MAX_REQUESTS_ANSWERED_AT_ONCE;

const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_BUFFERED = 8 * 1024 * 1024;
/** A request's answer, ready to send (none when the connection closed first), and whether it holds a read turn. */
interface PreparedAnswer {
  reply?: Buffer | Uint8Array[];
  release?: () => void;
  turn: boolean;
}

/** WebSocket close codes (RFC 6455): protocol error, message too big. */
const CLOSE_PROTOCOL_ERROR = 1002;
/** How long a `ws` socket closed here waits for the peer's close frame before it is cut. */
export const WS_CLOSE_GRACE_MS = 2_000;
const CLOSE_TOO_BIG = 1009;

/**
 * Makes an error about the connection itself: a request timed out, the socket closed or failed, a send
 * failed, it could not be opened. The peer's own `error` frames may carry the same codes (a node that
 * has not joined its cluster yet answers E_UNAVAILABLE) but say that it answers; `isTransportError`
 * tells the two apart (`details.transport`).
 */
export function transportError(code: 'E_TIMEOUT' | 'E_UNAVAILABLE', message: string, details: Record<string, unknown> = {}): CairnError {
  return new CairnError(code, message, { ...details, transport: true });
}

/** Whether `err` was made here about the connection (`transportError`), not sent by the peer. */
export function isTransportError(err: unknown): err is CairnError {
  return err instanceof CairnError && err.details?.['transport'] === true;
}

/**
 * Request/response over one WebSocket, both ways: each side numbers its own requests, responses carry
 * the request's id, and many requests may be in flight at once. Every failure surfaces as a
 * CairnError; a closed socket fails every pending request with E_UNAVAILABLE.
 */
export class RpcPeer {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private closedError: CairnError | undefined;
  private readonly drainWaiters: Array<() => void> = [];
  private answering = 0;
  /** Chunk reads being handled or sent (MAX_REQUESTS_ANSWERED_AT_ONCE); the others wait for a turn. */
  private readonly turns = new Window(MAX_REQUESTS_ANSWERED_AT_ONCE);
  /** The remote address, for logs and limits (set by the server that accepted the connection). */
  remoteAddress: string | undefined;
  /** When a complete frame last went either way (the idle timeout's clock). */
  lastActivity = Date.now();
  /** When a request of ours last finished going into the socket (a request timeout's clock). */
  private lastWritten = 0;
  /** When an answer to one of our requests last arrived (a request timeout's clock). */
  private lastAnswered = 0;
  /** Requests sent and not settled, by the order they were sent in (a Map keeps it). */
  private readonly sent = new Map<number, SentRequest>();
  /** Our requests holding one of the MAX_REQUESTS_IN_FLIGHT slots (`send`), and those waiting for one. */
  private slotsTaken = 0;
  private readonly slotWaiters: Array<{ taken: () => void; resolve: () => void }> = [];
  private sendOrder = 0;
  private drainTimer: NodeJS.Timeout | undefined;
  /** Why this connection is not being read: the inbound budget is spent, or the peer does not read our answers. */
  private readonly readPauses: ReadPauses<'budget' | 'backlog'>;
  readonly closed: Promise<CairnError>;
  private markClosed!: (err: CairnError) => void;

  constructor(
    readonly socket: PeerSocket,
    private readonly options: RpcPeerOptions = {},
  ) {
    this.closed = new Promise((resolve) => (this.markClosed = resolve));
    socket.binaryType = 'nodebuffer';
    const events = socket as PeerSocketEvents;
    events.on('message', (data, isBinary) => this.receive(data, isBinary));
    // The code stays readable (details.closeCode): a client learns from it that its token was revoked.
    const closedBy = (code: number, reason: Buffer) =>
      this.shutdown(transportError('E_UNAVAILABLE', `connection closed (${code}${reason.length ? ` ${reason}` : ''})`, { closeCode: code }));
    events.on('closing', closedBy);
    events.on('close', closedBy);
    events.on('error', (err) => this.shutdown(transportError('E_UNAVAILABLE', `connection failed: ${err.message}`)));
    this.readPauses = new ReadPauses(socket);
    const budget = options.inboundBudget;
    if (budget) {
      const connection = { pause: () => this.readPauses.pause('budget'), resume: () => this.readPauses.resume('budget') };
      budget.attach(connection);
      void this.closed.then(() => budget.detach(connection));
    }
  }

  /**
   * Whether requests can go out. False as soon as the WebSocket is closing, not only once its TCP
   * connection has closed: after a close frame a socket sends nothing more, and a caller that keeps a
   * connection (the SDK's to the controller) must see at once that it needs a new one. Otherwise every
   * request in between fails with E_UNAVAILABLE, such as a client's after its token was revoked.
   * Cairn's own sockets also end the peer at the close frame ('closing': what waited fails then);
   * over `ws`, which has no such event, a request already sent waits for the TCP close or its timeout.
   */
  get isOpen(): boolean {
    return this.closedError === undefined && this.socket.readyState === OPEN;
  }

  /**
   * How long this connection has carried nothing of ours: no answer to one of our requests has come,
   * and none of our requests has finished going out, for this many ms. A request can time out on a
   * connection that is not quiet (a peer stuck on that one request while it answers others); NodePool
   * ends a connection only once it is quiet.
   */
  quietForMs(now = Date.now()): number {
    return now - Math.max(this.lastAnswered, this.lastWritten);
  }

  /** Sends a control request and resolves with the response frame (an `error` frame rejects). */
  request<T extends ControlType>(type: T, body: Body<T>, options: RequestOptions = {}): Promise<Frame> {
    return this.send((id) => [encodeControl(type, id, body)], options);
  }

  /** Sends a chunk (`chunk.put`): a binary header and the raw bytes, never base64 or JSON. */
  putChunk(hash: string, payload: Uint8Array, grant: string, options: RequestOptions = {}): Promise<Frame> {
    return this.send((id) => encodeData('chunk.put', id, hash, payload, grant), options);
  }

  /** Resolves once the socket's send buffer is below the high-water mark. */
  async drained(): Promise<void> {
    while (this.isOpen && this.socket.bufferedAmount > this.highWaterMark) {
      await new Promise<void>((resolve) => {
        this.drainWaiters.push(resolve);
        this.pollDrain();
      });
    }
  }

  /**
   * Ends the connection: every request still waiting fails with E_UNAVAILABLE, and the close frame
   * follows what is queued. With `discardQueued` (a client done with its connections), a socket that
   * still holds bytes to send is cut instead: nobody waits for them now, and a close frame behind them
   * might never go out. A server closing (shutdown, a revoked token) keeps the default, so that the
   * answers it queued, and its close code, still reach the peer.
   */
  close(code = 1000, reason = '', { discardQueued = false } = {}): void {
    this.shutdown(transportError('E_UNAVAILABLE', 'connection closed'));
    if (discardQueued && this.socket.bufferedAmount > 0) {
      // A CLI whose node stopped reading would otherwise wait for the close's own timeout before it exits.
      this.socket.terminate();
      return;
    }
    try {
      this.socket.close(code, reason);
    } catch {
      this.socket.terminate();
      return;
    }
    if (!(this.socket instanceof WebSocketConnection)) {
      // `ws` waits 30 s for the peer's close frame, on a timer that keeps the process alive: a CLI whose
      // controller froze would wait that long again after its own error. Ours waits this long.
      const socket = this.socket;
      setTimeout(() => socket.readyState !== socket.CLOSED && socket.terminate(), WS_CLOSE_GRACE_MS).unref();
    }
  }

  /**
   * Sends a request and waits for its answer, until the abort signal or a timeout. The timeout is for
   * a lack of progress, not for the whole wait, so that a slow link does not fail requests that merely
   * queue behind others (a put keeps tens of MiB in flight: at 8 Mbit/s, a minute of sending). Until
   * the request has gone into the socket, its clock restarts whenever one of our requests finishes
   * going in or an answer comes back (the peer reads). Once it has, when an answer comes to a request
   * sent before it, which stood ahead of it on the wire; and to a later one, a few times at most
   * between two of those (LATER_ANSWERS_COUNTED: a peer may answer out of order, but heartbeats
   * answered say nothing of this request; nor does a write, which on a fast link finishes at once). So
   * a peer that stops reading or answering fails everything that waits on it `timeoutMs` after it went
   * quiet, and one that takes a request and never answers it fails it soon after the requests ahead of
   * it were answered, however busy the connection is with others.
   */
  private send(build: (id: number) => Uint8Array[], options: RequestOptions): Promise<Frame> {
    if (this.closedError) return Promise.reject(this.closedError);
    if (options.signal?.aborted) return Promise.reject(new CairnError('E_ABORTED', 'aborted'));
    const timeoutMs = options.timeoutMs ?? this.options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    return new Promise<Frame>((resolve, reject) => {
      let id = 0;
      let order = 0;
      let settled = false;
      const startedAt = Date.now();
      let writtenAt: number | undefined;
      const lastProgress = () => {
        const answered = this.sent.get(order)?.answeredAt ?? 0;
        if (writtenAt !== undefined) return Math.max(writtenAt, answered);
        return Math.max(startedAt, this.lastWritten, order === 0 ? this.lastAnswered : answered);
      };
      const onTimer = () => {
        const left = lastProgress() + timeoutMs - Date.now();
        if (left > 0) timer = setTimeout(onTimer, left);
        else settle(transportError('E_TIMEOUT', `no answer, and no progress on the connection, for ${timeoutMs} ms`, { timeoutMs }), true);
      };
      let holdsSlot = false;
      const onSlot = () => (holdsSlot = true);
      /** `givenUp`: aborted or timed out here, not answered: the other side may still be working on it. */
      const settle = (outcome: Frame | CairnError, givenUp = false) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        if (!holdsSlot) this.leaveSlotQueue(onSlot);
        else if (givenUp && id !== 0 && this.pending.has(id)) this.keepSlotUntilAnswered(id, order);
        else this.releaseSlot();
        if (id !== 0 && !givenUp) this.pending.delete(id);
        this.sent.delete(order);
        if (outcome instanceof CairnError) reject(outcome);
        else resolve(outcome);
      };
      let timer = setTimeout(onTimer, timeoutMs);
      const onAbort = () => settle(new CairnError('E_ABORTED', 'aborted'), true);
      options.signal?.addEventListener('abort', onAbort, { once: true });

      void this.takeSlot(onSlot)
        .then(() => this.drained())
        .then(() => {
          if (settled) return; // timed out or aborted while waiting: never sent
          if (this.closedError) return settle(this.closedError);
          const requestId = this.allocateId();
          // The encoder refuses a body its schema does not allow (a caller's bad input, such as a name
          // with a NUL): that fails this request now, rather than waiting for its timeout.
          const parts = build(requestId);
          id = requestId;
          order = ++this.sendOrder;
          this.sent.set(order, { answeredAt: 0, laterAnswersLeft: LATER_ANSWERS_COUNTED });
          this.pending.set(id, { resolve: settle, reject: settle, order });
          this.lastActivity = Date.now();
          this.sendMessage(parts, (err) => {
            if (err) settle(transportError('E_UNAVAILABLE', `send failed: ${err.message}`));
            else this.lastWritten = writtenAt = Date.now();
          });
        })
        // Nothing in the chain may reject unhandled: that would end the process, an embedding app's too.
        .catch((err: unknown) => settle(toCairnError(err)));
    });
  }

  /**
   * Waits until fewer than MAX_REQUESTS_IN_FLIGHT of our requests are in flight here, then calls
   * `taken` (synchronously, so the request knows it holds a slot before anything else runs). The other
   * side answers E_UNAVAILABLE to a request over that many: an SDK shared by a busy service would
   * otherwise fail its requests beyond the 64th instead of queueing them. Slots go in request order.
   */
  private takeSlot(taken: () => void): Promise<void> {
    if (this.slotsTaken < (this.options.maxRequestsInFlight ?? MAX_REQUESTS_IN_FLIGHT)) {
      this.slotsTaken++;
      taken();
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => this.slotWaiters.push({ taken, resolve }));
  }

  /**
   * A request sent and then given up here (aborted, timed out) still counts on the other side until it
   * answers, which refuses requests over MAX_REQUESTS_IN_FLIGHT: its slot is kept until that late answer
   * comes (dropped) or the connection closes, so that what waits behind it is not sent to be refused.
   */
  private keepSlotUntilAnswered(id: number, order: number): void {
    const release = () => {
      this.pending.delete(id);
      this.releaseSlot();
    };
    this.pending.set(id, { resolve: release, reject: release, order });
  }

  /** A settled request's slot goes to the first waiting, or back. */
  private releaseSlot(): void {
    const next = this.slotWaiters.shift();
    if (!next) {
      this.slotsTaken--;
      return;
    }
    next.taken();
    next.resolve();
  }

  /** A request settled (timed out, aborted) while it waited for a slot leaves the queue. */
  private leaveSlotQueue(taken: () => void): void {
    const at = this.slotWaiters.findIndex((waiter) => waiter.taken === taken);
    if (at >= 0) this.slotWaiters.splice(at, 1);
  }

  /**
   * An answer came to the request sent `order`-th: progress for every request sent after it, and for
   * those sent before it while their count of later answers lasts (`send`, LATER_ANSWERS_COUNTED).
   */
  private answeredAhead(order: number, at: number): void {
    for (const [other, request] of this.sent) {
      if (other > order) {
        request.answeredAt = at;
        request.laterAnswersLeft = LATER_ANSWERS_COUNTED;
      } else if (other < order && request.laterAnswersLeft > 0) {
        request.laterAnswersLeft--;
        request.answeredAt = at;
      }
    }
  }

  /** One frame as one WebSocket message; a data frame's header and chunk go out without being joined. */
  private sendMessage(parts: Uint8Array[], cb: (err?: Error | null) => void): void {
    if (this.socket instanceof WebSocketConnection) this.socket.sendParts(parts, cb);
    else if (parts.length === 2) sendJoined(this.socket, parts[0], parts[1], cb);
    else this.socket.send(parts.length === 1 ? parts[0] : concatFrame(parts), { binary: true }, cb);
  }

  private allocateId(): number {
    // Skip ids still waiting for an answer after a wrap-around; 0 means "not a request".
    do {
      this.nextId = this.nextId >= MAX_REQUEST_ID ? 1 : this.nextId + 1;
    } while (this.pending.has(this.nextId));
    return this.nextId;
  }

  private receive(data: Buffer, isBinary: boolean): void {
    this.lastActivity = Date.now();
    const recycle = this.options.recycle;
    if (!isBinary) {
      this.fatal(new CairnError('E_FRAME_MALFORMED', 'text frames are not part of the protocol'), CLOSE_PROTOCOL_ERROR);
      recycle?.(data);
      return;
    }
    let frame: Frame;
    try {
      frame = decodeFrame(data);
    } catch (err) {
      this.onUndecodable(toCairnError(err, 'E_FRAME_MALFORMED'));
      recycle?.(data);
      return;
    }
    if (isResponseType(frame.type)) {
      if (!this.settleResponse(frame)) recycle?.(data); // an answer delivered is its requester's to keep
    } else {
      this.holdBackIfBacklogged();
      const release = this.options.inboundBudget?.hold(data.length);
      this.answer(frame, () => {
        release?.();
        recycle?.(data);
      });
    }
  }

  /**
   * Stops reading from a peer that does not read our answers: once the send buffer is over its
   * high-water mark no more requests are read (TCP then pushes back on the sender) until it drains.
   * Otherwise a peer that only sends would have this process queue answers, and keep the requests
   * waiting to send them, without bound. Requests only: a response read never adds to what we send,
   * and a client must keep reading its answers while its own chunks wait to go out. Two peers that
   * both send requests and both stop reading would wait for each other until the idle timeout; between
   * a controller and a node only small control messages flow, so that takes a hostile peer anyway.
   */
  private holdBackIfBacklogged(): void {
    if (!this.isOpen || this.readPauses.has('backlog') || this.socket.bufferedAmount <= this.highWaterMark) return;
    this.readPauses.pause('backlog');
    void this.drained().then(() => this.readPauses.resume('backlog'));
  }

  private get highWaterMark(): number {
    return this.options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED;
  }

  /** Hands a response to the request waiting for it; false if none is (it timed out, or was never sent). */
  private settleResponse(frame: Frame): boolean {
    const pending = this.pending.get(frame.requestId);
    if (!pending) return false;
    this.lastAnswered = this.lastActivity;
    this.answeredAhead(pending.order, this.lastActivity);
    if (frame.type === 'error') pending.reject(errorFromWire(frame.body));
    else pending.resolve(frame);
    return true;
  }

  /**
   * Answers one request in two steps: its handler's work (`prepare`), after which `handled` gives the
   * request's bytes back, then the wait for room in the socket (`deliver`). The wait keeps nothing of
   * the request (neither step's closures reach it once `prepare` is done), so a peer slow to read our
   * answers holds only the answers, never its requests nor the inbound budget every connection shares.
   */
  private answer(frame: Frame, handled: () => void): void {
    this.answering++;
    void this.prepare(frame)
      .finally(handled)
      .then((prepared) => this.deliver(prepared))
      // Neither step should throw; should one, this connection is what to give up, never the process.
      .catch(() => this.socket.terminate());
  }

  /** Runs the request's handler; never rejects (a failure becomes an `error` answer). */
  private async prepare(frame: Frame): Promise<PreparedAnswer> {
    let turn = false;
    try {
      if (!this.options.onRequest) throw new CairnError('E_UNKNOWN_TYPE', `${frame.type} is not served here`);
      if (this.answering > MAX_REQUESTS_IN_FLIGHT) {
        throw new CairnError('E_UNAVAILABLE', `more than ${MAX_REQUESTS_IN_FLIGHT} requests in flight on one connection`);
      }
      if (frame.type === 'chunk.get') {
        // A read takes a turn, held until its chunk is handed to the socket: what one connection's
        // reads pin in memory is bounded by the turns, whatever the number in flight.
        await this.turns.acquire();
        turn = true;
        if (!this.isOpen) return { turn }; // closed while it waited: nobody to answer
      }
      const result = await this.options.onRequest(frame, this);
      if (result.type !== 'chunk.data') return { reply: encodeControl(result.type, frame.requestId, result.body as never), turn };
      try {
        return { reply: encodeData('chunk.data', frame.requestId, result.hash, result.payload), release: result.release, turn };
      } catch (err) {
        result.release?.();
        throw err;
      }
    } catch (err) {
      return { reply: encodeError(frame.requestId, toCairnError(err)), turn };
    }
  }

  /**
   * Sends a prepared answer once the socket has room. Until then the request still counts among those
   * in flight on this connection (`answering`): a peer that never reads cannot pile up answers.
   */
  private async deliver({ reply, release, turn }: PreparedAnswer): Promise<void> {
    let handedOver = false;
    try {
      if (!reply || !this.isOpen) return;
      await this.drained();
      this.lastActivity = Date.now();
      this.sendAnswer(reply, release);
      handedOver = true;
    } finally {
      if (!handedOver) release?.();
      if (turn) this.turns.release();
      this.answering--;
    }
  }

  /**
   * Queues an answer. A function of its own so that the write's callback, which the socket keeps until
   * the peer has read the answer, holds nothing else: a closure made in `answer` would keep the whole
   * request (a chunk) alive for as long as a peer that does not read cares to wait.
   */
  private sendAnswer(reply: Buffer | Uint8Array[], release: (() => void) | undefined): void {
    // Written or failed, the socket is done with the payload either way.
    this.sendMessage(Array.isArray(reply) ? reply : [reply], () => release?.());
  }

  /**
   * A frame we cannot decode: if its header named a request we answer that request with the error
   * (or fail our own pending request it answered); a frame too broken to attribute closes the socket.
   */
  private onUndecodable(err: CairnError): void {
    const requestId = err.details?.['requestId'];
    if (err.code === 'E_VERSION') {
      // A peer speaking another version will not understand anything else we say: answer, then close.
      if (typeof requestId === 'number' && requestId !== 0) this.socket.send(encodeError(requestId, err), { binary: true });
      this.fatal(err, CLOSE_PROTOCOL_ERROR);
      return;
    }
    if (typeof requestId === 'number' && requestId !== 0 && err.code !== 'E_FRAME_TOO_LARGE') {
      const pending = this.pending.get(requestId);
      if (pending) {
        this.answeredAhead(pending.order, Date.now());
        pending.reject(err);
        return;
      }
      this.socket.send(encodeError(requestId, err), { binary: true });
      this.holdBackIfBacklogged();
      this.options.onProtocolError?.(err);
      return;
    }
    this.fatal(err, err.code === 'E_FRAME_TOO_LARGE' ? CLOSE_TOO_BIG : CLOSE_PROTOCOL_ERROR);
  }

  private fatal(err: CairnError, closeCode: number): void {
    this.options.onProtocolError?.(err);
    if (this.isOpen) {
      try {
        this.socket.send(encodeError(0, err), { binary: true });
      } catch {
        // the socket may already be going away; closing below is what matters
      }
    }
    this.shutdown(err);
    this.socket.close(closeCode, err.code);
  }

  private shutdown(err: CairnError): void {
    if (this.closedError) return;
    this.closedError = isTransportError(err) && err.code === 'E_UNAVAILABLE' ? err : transportError('E_UNAVAILABLE', err.message);
    for (const pending of [...this.pending.values()]) pending.reject(this.closedError);
    this.pending.clear();
    this.flushDrainWaiters();
    this.markClosed(this.closedError);
  }

  private pollDrain(): void {
    // `ws` has no drain event; poll the buffered amount briefly while someone waits.
    if (this.drainTimer) return;
    this.drainTimer = setInterval(() => {
      if (!this.isOpen || this.socket.bufferedAmount <= this.highWaterMark) this.flushDrainWaiters();
    }, 2);
  }

  private flushDrainWaiters(): void {
    if (this.drainTimer) clearInterval(this.drainTimer);
    this.drainTimer = undefined;
    for (const wake of this.drainWaiters.splice(0)) wake();
  }
}

/** Narrows a response frame to the expected type, or fails with E_BAD_MESSAGE. */
export function expectFrame<T extends Frame['type']>(frame: Frame, type: T): Extract<Frame, { type: T }> {
  if (frame.type !== type) throw new CairnError('E_BAD_MESSAGE', `expected ${type}, got ${frame.type}`);
  return frame as Extract<Frame, { type: T }>;
}

