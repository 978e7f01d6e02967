import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import {
  CLOSE_CODES,
  CairnError,
  ControlType,
  TokenScope,
  controllerProof,
  mintToken,
  nodeProof,
  parseToken,
  proofsEqual,
  scopeAllows,
  secretMatches,
  storeReceipt,
  validateTokenPrefix,
} from '@cairn/protocol';
import type { CatalogStore } from '@cairn/registry';
import type { RpcPeer } from '@cairn/transfer';
import type { ControllerKeys } from './key-files';
import { FailedAuthLimiter, MAX_FAILED_AUTH } from './failed-auth-limiter';

/**
 * Who a connection is. Every connection starts anonymous and may only authenticate:
 *   client       — presented a valid token (`session.auth`): may do what its scope and prefix allow.
 *   node-pending — sent `node.hello` and got a challenge; must answer it in `node.register`.
 *   node         — proved the cluster secret: may heartbeat, report and be sent work.
 */
export type Session =
  | { kind: 'client'; tokenId: string; scope: TokenScope; prefix: string | null }
  | { kind: 'node-pending'; nodeId: string; nodeNonce: string; controllerNonce: string }
  | { kind: 'node'; nodeId: string };

type Requirement = TokenScope | 'node' | 'anyone';

/** What each request needs. A type missing here is refused (the type checker insists on all). */
const REQUIREMENTS: Record<Exclude<ControlType, ResponseTypes>, Requirement> = {
  'session.auth': 'anyone',
  'node.hello': 'anyone',
  'node.register': 'anyone', // checked against the pending challenge
  'file.stat': 'read',
  'file.chunks': 'read',
  'file.list': 'read',
  'nodes.list': 'read',
  'cluster.status': 'read',
  'chunk.bad': 'read',
  'upload.begin': 'write',
  'upload.prepare': 'write',
  'upload.place': 'write',
  'upload.stored': 'write',
  'upload.commit': 'write',
  'upload.abort': 'write',
  'file.remove': 'write',
  'node.drain': 'admin',
  'node.forget': 'admin',
  'token.create': 'admin',
  'token.list': 'admin',
  'token.revoke': 'admin',
  'node.heartbeat': 'node',
  'node.report': 'node',
  'chunk.quarantined': 'node',
  'node.chunks': 'node',
  // Requests a controller never serves (node-side); refused here like anything unauthorised.
  'chunk.get': 'node',
  'chunk.has': 'node',
  'chunk.claim': 'node',
  'chunk.replicate': 'node',
  'chunk.delete': 'node',
  'chunk.check': 'node',
  'chunk.find-prepared': 'node',
};

type ResponseTypes =
  | 'error'
  | 'ack'
  | 'session.info'
  | 'upload.begun'
  | 'upload.prepared'
  | 'upload.placed'
  | 'file.info'
  | 'file.chunk-page'
  | 'file.list-page'
  | 'nodes.info'
  | 'cluster.info'
  | 'node.registered'
  | 'node.challenge'
  | 'node.chunk-page'
  | 'chunk.stored'
  | 'chunk.present'
  | 'chunk.deleted'
  | 'chunk.checked'
  | 'chunk.found-prepared'
  | 'token.created'
  | 'token.listed';

const ADMIN_TOKEN_ID = 'admin';

export class AccessControl {
  private readonly sessions = new WeakMap<RpcPeer, Session>();
  /** Open client connections by token id, for a revocation to close; a token without one has no entry. */
  private readonly peersByToken = new Map<string, Set<RpcPeer>>();
  /** Connections whose close is watched (`watchClose`). */
  private readonly watched = new WeakSet<RpcPeer>();
  /** Failed authentications over WebSocket: clients' tokens and nodes' handshakes share it. */
  private readonly limiter = new FailedAuthLimiter();
  /**
   * Failed bearer tokens on the HTTP routes, apart: a scraper with a stale token (on the quick start,
   * from the nodes' own 127.0.0.1) must not lock the nodes out of registering, and be declared dead.
   */
  private readonly httpLimiter = new FailedAuthLimiter();
  private readonly adminTokenHash: Buffer;

  constructor(
    private readonly catalog: CatalogStore,
    private readonly keys: ControllerKeys,
    private readonly log: Logger,
  ) {
    this.adminTokenHash = createHash('sha256').update(keys.adminToken).digest();
  }

  /** Checks that `peer` may send a request of `type`; returns its session (undefined for 'anyone'). */
  authorize(peer: RpcPeer, type: ControlType): Session | undefined {
    const need = (REQUIREMENTS as Record<string, Requirement | undefined>)[type];
    if (need === undefined) throw new CairnError('E_UNKNOWN_TYPE', `${type} is not a request`);
    if (need === 'anyone') return this.sessions.get(peer);
    const session = this.sessions.get(peer);
    if (!session || session.kind === 'node-pending') throw new CairnError('E_AUTH', 'authenticate first (a token or the node handshake)');
    if (need === 'node') {
      if (session.kind !== 'node') throw new CairnError('E_FORBIDDEN', `${type} is for storage nodes`);
      return session;
    }
    if (session.kind !== 'client') throw new CairnError('E_FORBIDDEN', `${type} is for clients`);
    if (!scopeAllows(session.scope, need)) throw new CairnError('E_FORBIDDEN', `${type} needs ${need === 'admin' ? 'an' : 'a'} ${need} token, this one is ${session.scope}`);
    return session;
  }

  /**
   * Refuses (E_AUTH) a request `authorize` let in whose connection has closed since, or whose token
   * was revoked since (a revocation closes its connections at once, and takes them off its token's
   * list): for a request that awaited before it acts (a commit), so that the act does not outlive the
   * authorization it was let in under.
   */
  requireStillAuthorized(peer: RpcPeer, session: Session | undefined): void {
    const current = this.sessions.get(peer);
    const stillListed = current?.kind !== 'client' || (this.peersByToken.get(current.tokenId)?.has(peer) ?? false);
    if (!peer.isOpen || current !== session || !stillListed) throw new CairnError('E_AUTH', 'the connection closed or its token was revoked');
  }

  /** `session.auth`: a bearer token, compared in constant time against stored hashes. */
  async authenticateClient(peer: RpcPeer, token: string, address: string): Promise<Session & { kind: 'client' }> {
    this.refuseIfBlocked(address);
    const session = await this.resolveToken(token);
    if (!session) {
      this.log.warn({ remote: address }, 'client authentication failed');
      this.recordFailure(address, this.limiter, 'the WebSocket (clients and nodes)');
      throw new CairnError('E_AUTH', 'invalid or revoked token');
    }
    this.setSession(peer, session);
    this.watchClose(peer, address);
    return session;
  }

  /** `node.hello`: answers with a fresh challenge and the controller's own proof. */
  nodeHello(peer: RpcPeer, nodeId: string, nodeNonce: string, address: string) {
    this.refuseIfBlocked(address);
    const controllerNonce = randomBytes(32).toString('hex');
    this.setSession(peer, { kind: 'node-pending', nodeId, nodeNonce, controllerNonce });
    this.watchClose(peer, address);
    const transcript = { nodeId, nodeNonce, controllerNonce, grantPublicKey: this.keys.grantPublicKeyPem };
    return { nonce: controllerNonce, proof: controllerProof(this.keys.clusterSecret, transcript), grantPublicKey: this.keys.grantPublicKeyPem };
  }

  /**
   * What a connection's close ends: its place among its token's connections, and the note of a node
   * that left its handshake unfinished. Watched once per connection, however many handshakes it sends:
   * a listener per request would keep memory for each until the close, and a peer sending `node.hello`
   * over and over (it needs no credentials) could grow the controller without bound.
   */
  private watchClose(peer: RpcPeer, address: string): void {
    if (this.watched.has(peer)) return;
    this.watched.add(peer);
    void peer.closed.then(() => {
      const session = this.sessions.get(peer);
      if (session?.kind === 'client') this.leaveToken(session.tokenId, peer);
      // A node that finds our proof wrong (it has another secret) hangs up without registering: say so.
      // Logged, not counted as a failed attempt: a misconfigured node retrying must not lock out its host.
      if (session?.kind === 'node-pending') {
        this.log.warn({ remote: address, node: session.nodeId }, 'node refused: it left the handshake unfinished (a different cluster secret?)');
      }
    });
  }

  /** `node.register`: the node's proof over this connection's challenge. One try per challenge. */
  verifyNode(peer: RpcPeer, nodeId: string, proof: string, address: string): void {
    const pending = this.sessions.get(peer);
    this.setSession(peer, undefined); // a challenge is answered once, right or wrong
    const expected =
      pending?.kind === 'node-pending' && pending.nodeId === nodeId
        ? nodeProof(this.keys.clusterSecret, { ...pending, grantPublicKey: this.keys.grantPublicKeyPem })
        : undefined;
    if (!expected || !proofsEqual(expected, proof)) {
      this.log.warn({ remote: address, node: nodeId }, 'node refused: it does not know the cluster secret (or replayed a handshake, or runs another Cairn version)');
      this.recordFailure(address, this.limiter, 'the WebSocket (clients and nodes)');
      throw new CairnError('E_AUTH', 'node handshake failed');
    }
    this.setSession(peer, { kind: 'node', nodeId });
  }

  /**
   * Every change of a connection's session goes through here, so that a connection is among its
   * token's connections (`peersByToken`, which a revocation closes) exactly while its session is that
   * token's: one that authenticated and then sent `node.hello` must not stay listed after it closes.
   */
  private setSession(peer: RpcPeer, session: Session | undefined): void {
    const previous = this.sessions.get(peer);
    if (previous?.kind === 'client') this.leaveToken(previous.tokenId, peer);
    if (session === undefined) {
      this.sessions.delete(peer);
      return;
    }
    this.sessions.set(peer, session);
    if (session.kind !== 'client') return;
    let peers = this.peersByToken.get(session.tokenId);
    if (!peers) this.peersByToken.set(session.tokenId, (peers = new Set()));
    peers.add(peer);
  }

  /**
   * Takes a connection off its token's list, and the token's entry with its last connection: every
   * token that ever connected would otherwise keep an empty set for as long as the controller runs.
   */
  private leaveToken(tokenId: string, peer: RpcPeer): void {
    const peers = this.peersByToken.get(tokenId);
    if (!peers) return;
    peers.delete(peer);
    if (peers.size === 0) this.peersByToken.delete(tokenId);
  }

  /** Checks each node's receipt for a chunk it stored for this upload (E_UPLOAD_INVALID otherwise). */
  verifyReceipts(uploadId: string, chunk: { index: number; hash: string; nodes: string[]; receipts: string[] }): void {
    if (chunk.receipts.length !== chunk.nodes.length) {
      throw new CairnError('E_UPLOAD_INVALID', `chunk ${chunk.index}: one receipt per node is required`);
    }
    chunk.nodes.forEach((nodeId, i) => {
      const expected = storeReceipt(this.keys.clusterSecret, { nodeId, hash: chunk.hash, uploadId });
      if (!proofsEqual(expected, chunk.receipts[i])) {
        throw new CairnError('E_UPLOAD_INVALID', `chunk ${chunk.index}: node ${nodeId} did not confirm storing it for this upload`);
      }
    });
  }

  nodeOf(peer: RpcPeer): string | undefined {
    const session = this.sessions.get(peer);
    return session?.kind === 'node' ? session.nodeId : undefined;
  }

  /**
   * Mints a token for `session`'s admin. One limited to a prefix mints only tokens within it: with no
   * prefix asked, its own; another that does not start with its own is refused (E_FORBIDDEN).
   */
  async createToken(session: Session | undefined, scope: TokenScope, asked: string | null): Promise<{ id: string; token: string }> {
    const own = clientPrefix(session);
    const prefix = asked === null ? own : validateTokenPrefix(asked);
    if (!tokenWithin(session, prefix)) throw new CairnError('E_FORBIDDEN', `this token may only create tokens limited to names under "${own}"`);
    const { id, token, secretHash } = mintToken();
    await this.catalog.createToken({ id, secretHash, scope, prefix, createdAt: Date.now(), revokedAt: null });
    this.log.info({ tokenId: id, scope, prefix }, 'token created');
    return { id, token };
  }

  /**
   * Revokes a token and closes every connection that authenticated with it, at once. An admin limited
   * to a prefix sees only tokens within it (`tokenWithin`): any other is not found.
   */
  async revokeToken(session: Session | undefined, id: string): Promise<void> {
    if (clientPrefix(session) !== null) {
      const record = await this.catalog.getToken(id);
      if (!record || !tokenWithin(session, record.prefix)) throw new CairnError('E_NOT_FOUND', `no active token ${id}`);
    }
    if (!(await this.catalog.revokeToken(id, Date.now()))) throw new CairnError('E_NOT_FOUND', `no active token ${id}`);
    for (const peer of this.peersByToken.get(id) ?? []) peer.close(CLOSE_CODES.tokenRevoked, 'token revoked');
    this.peersByToken.delete(id);
    this.log.info({ tokenId: id }, 'token revoked');
  }

  /**
   * Whether an HTTP request from `address` may see /metrics and the dashboard API: it carries the admin
   * token as `Authorization: Bearer …`. A bearer token that is no valid token is a failed authentication
   * of its address, counted apart from the WebSocket's (`httpLimiter`): enough of them lock that address
   * out of HTTP only, refused (E_AUTH, with how long: HTTP 429) whatever it sends, while its nodes and
   * clients still connect (and failures on the WebSocket leave its HTTP open). Refused without
   * counting: no bearer token (nothing tried: the dashboard before sign-in), and a valid token without
   * the admin's powers, which is told so (E_FORBIDDEN: it proved itself; it is only not enough here).
   */
  async authorizeHttp(authorization: string | undefined, address: string): Promise<boolean> {
    this.refuseIfBlocked(address, this.httpLimiter);
    // The scheme's name is case-insensitive (RFC 9110, 11.1).
    const token = /^bearer +(\S+) *$/i.exec(authorization ?? '')?.[1];
    if (token === undefined) return false;
    const session = await this.resolveToken(token);
    if (!session) {
      this.log.warn({ remote: address }, 'HTTP authentication failed');
      this.recordFailure(address, this.httpLimiter, 'HTTP (/metrics and /api/*)');
      return false;
    }
    if (session.tokenId !== ADMIN_TOKEN_ID) {
      throw new CairnError('E_FORBIDDEN', 'this token is valid, but /metrics and /api/* take only the admin token (the controller\'s admin-token file or CAIRN_ADMIN_TOKEN), not one made with "cairn token create"');
    }
    return true;
  }

  /** Counts a failed authentication; the one that locks `address` out is logged, once per lock-out. */
  private recordFailure(address: string, limiter: FailedAuthLimiter, of: string): void {
    if (limiter.recordFailure(address)) {
      const seconds = Math.ceil(limiter.blockedForMs(address) / 1000);
      this.log.warn({ remote: address, seconds }, `address locked out of ${of} for ${seconds} s after ${MAX_FAILED_AUTH} failed authentications within a minute`);
    }
  }

  private async resolveToken(token: string): Promise<(Session & { kind: 'client' }) | undefined> {
    if (timingSafeEqual(createHash('sha256').update(token).digest(), this.adminTokenHash)) {
      return { kind: 'client', tokenId: ADMIN_TOKEN_ID, scope: 'admin', prefix: null };
    }
    const parsed = parseToken(token);
    if (!parsed) return undefined;
    const record = await this.catalog.getToken(parsed.id);
    if (!record || record.revokedAt !== null || !secretMatches(parsed.secret, record.secretHash)) return undefined;
    return { kind: 'client', tokenId: record.id, scope: record.scope, prefix: record.prefix };
  }

  private refuseIfBlocked(address: string, limiter = this.limiter): void {
    const retryAfterMs = limiter.blockedForMs(address);
    if (retryAfterMs > 0) throw new CairnError('E_AUTH', 'too many failed attempts from this address; try later', { retryAfterMs });
  }
}

/** A name a client may touch: every name for an unrestricted token, else only names under its prefix. */
export function checkNameAllowed(session: Session | undefined, name: string): void {
  if (session?.kind === 'client' && session.prefix !== null && !name.startsWith(session.prefix)) {
    throw new CairnError('E_FORBIDDEN', `this token is limited to names under "${session.prefix}"`);
  }
}

/**
 * Refuses a request that acts on the whole cluster (draining a node moves chunks of every file) to a
 * token limited to a prefix, whatever its scope: such an admin administers its prefix, not the nodes.
 */
export function requireUnrestricted(session: Session | undefined, what: string): void {
  const prefix = clientPrefix(session);
  if (prefix !== null) throw new CairnError('E_FORBIDDEN', `${what} needs a token without a prefix; this one is limited to "${prefix}"`);
}

/** The prefix a client's token is limited to; null for an unrestricted one (and for anything but a client). */
function clientPrefix(session: Session | undefined): string | null {
  return session?.kind === 'client' ? session.prefix : null;
}

/**
 * Whether a token limited to `prefix` (null: unrestricted) lies within what `session` may touch, so
 * that its admin may create, list or revoke it: every token for an unrestricted admin, else only those
 * whose prefix starts with its own. A prefix-limited admin can thus never mint more than it has.
 */
export function tokenWithin(session: Session | undefined, prefix: string | null): boolean {
  const own = clientPrefix(session);
  return own === null || (prefix !== null && prefix.startsWith(own));
}

/**
 * The prefix a listing really uses: a client's prefix narrowed to its token's. Returns undefined when
 * the two cannot overlap (the listing is then empty).
 */
export function effectivePrefix(session: Session | undefined, prefix: string): string | undefined {
  if (session?.kind !== 'client' || session.prefix === null) return prefix;
  if (prefix.startsWith(session.prefix)) return prefix;
  if (session.prefix.startsWith(prefix)) return session.prefix;
  return undefined;
}
