import { generateKeyPairSync } from 'node:crypto';
import type { Logger } from 'pino';
import { CLOSE_CODES, mintToken } from '@cairn/protocol';
import type { CatalogStore, TokenRecord } from '@cairn/registry';
import type { RpcPeer } from '@cairn/transfer';
import { AccessControl, type Session } from './access-control';
import type { ControllerKeys } from './key-files';
import { FAILED_AUTH_WINDOW_MS, MAX_FAILED_AUTH } from './failed-auth-limiter';

/** A connection as AccessControl sees one: its close, and how often something asked to hear of it. */
function fakePeer() {
  let close!: () => void;
  const closed = new Promise<void>((resolve) => (close = resolve));
  const peer = { watchers: 0, closes: [] as number[], close: (code: number) => peer.closes.push(code), closeNow: () => close() };
  Object.defineProperty(peer, 'closed', {
    get: () => {
      peer.watchers++;
      return closed;
    },
  });
  return peer as typeof peer & RpcPeer;
}

/** Tokens the fake catalog below knows, by id; `issue` mints one (a read token for any name). */
function tokenBook() {
  const records = new Map<string, TokenRecord>();
  const issue = () => {
    const { id, token, secretHash } = mintToken();
    records.set(id, { id, secretHash, scope: 'read', prefix: null, createdAt: 1, revokedAt: null });
    return token;
  };
  return { records, issue };
}

function setup(tokens = tokenBook()) {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const keys: ControllerKeys = {
    clusterSecret: 's'.repeat(64),
    adminToken: 'cairn_admin_test',
    grantPrivateKey: privateKey,
    grantPublicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
  const warnings: unknown[][] = [];
  const log = { warn: (...args: unknown[]) => warnings.push(args), info: () => undefined } as unknown as Logger;
  const catalog = { getToken: async (id: string) => tokens.records.get(id), revokeToken: async () => true } as unknown as CatalogStore;
  return { access: new AccessControl(catalog, keys, log), warnings, issue: tokens.issue };
}

/** The bootstrap admin token's session: no prefix, every power. */
const BOOTSTRAP: Session = { kind: 'client', tokenId: 'admin', scope: 'admin', prefix: null };

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('AccessControl and a connection that sends handshake after handshake', () => {
  it('watches a connection once however many node.hello it sends, and notes only the last unfinished one', async () => {
    const { access, warnings } = setup();
    const peer = fakePeer();

    // Needs no credentials: before, each hello left a listener (and its session) until the close.
    for (let i = 0; i < 1000; i++) access.nodeHello(peer, `n-${i}`, 'a'.repeat(64), '127.0.0.1');

    expect(peer.watchers).toBe(1);
    peer.closeNow();
    await settle();
    expect(warnings).toHaveLength(1);
    expect(warnings[0][0]).toMatchObject({ node: 'n-999', remote: '127.0.0.1' });
  });

  it('watches a client once however often it authenticates, and a revoked token closes it once', async () => {
    const { access } = setup();
    const peer = fakePeer();

    for (let i = 0; i < 100; i++) await access.authenticateClient(peer, 'cairn_admin_test', '127.0.0.1');
    expect(peer.watchers).toBe(1);

    await access.revokeToken(BOOTSTRAP, 'admin');
    expect(peer.closes).toEqual([CLOSE_CODES.tokenRevoked]);
  });

  it('forgets a client connection that turned to a node handshake, so a revocation later closes nothing', async () => {
    const { access } = setup();
    const peer = fakePeer();
    await access.authenticateClient(peer, 'cairn_admin_test', '127.0.0.1');
    access.nodeHello(peer, 'n-1', 'a'.repeat(64), '127.0.0.1'); // needs no credentials

    peer.closeNow();
    await settle();
    await access.revokeToken(BOOTSTRAP, 'admin');

    expect(peer.closes).toEqual([]); // it was not left among the token's connections
  });

  it('says nothing when a connection closes after its handshake succeeded or never began', async () => {
    const { access, warnings } = setup();
    const client = fakePeer();
    await access.authenticateClient(client, 'cairn_admin_test', '127.0.0.1');
    client.closeNow();
    await settle();

    expect(warnings).toEqual([]);
    await access.revokeToken(BOOTSTRAP, 'admin'); // the closed connection left its token's set
    expect(client.closes).toEqual([]);
  });
});

describe("AccessControl's connections by token", () => {
  /** How many tokens it keeps connections of (private: read only here, as the healer's maps are in its specs). */
  const tokensKept = (access: AccessControl) => (access as unknown as { peersByToken: Map<string, unknown> }).peersByToken.size;

  it('keeps no entry for a token once its last connection closed, however many tokens ever connected', async () => {
    const { access, issue } = setup();
    const peers = [];
    for (let t = 0; t < 50; t++) {
      const token = issue();
      for (let c = 0; c < 3; c++) {
        const peer = fakePeer();
        await access.authenticateClient(peer, token, '127.0.0.1');
        peers.push(peer);
      }
    }
    expect(tokensKept(access)).toBe(50);

    for (const peer of peers.slice(0, -1)) peer.closeNow();
    await settle();
    expect(tokensKept(access)).toBe(1); // the last token still has a connection open

    peers[peers.length - 1].closeNow();
    await settle();
    expect(tokensKept(access)).toBe(0);
  });

  it('keeps no entry for a token whose last connection turned to a node handshake or to another token', async () => {
    const { access, issue } = setup();
    const toNode = fakePeer();
    await access.authenticateClient(toNode, issue(), '127.0.0.1');
    access.nodeHello(toNode, 'n-1', 'a'.repeat(64), '127.0.0.1');

    const toOther = fakePeer();
    await access.authenticateClient(toOther, issue(), '127.0.0.1');
    await access.authenticateClient(toOther, 'cairn_admin_test', '127.0.0.1');
    expect(tokensKept(access)).toBe(1); // the admin token's, with `toOther` open on it

    toOther.closeNow();
    toNode.closeNow();
    await settle();
    expect(tokensKept(access)).toBe(0);
  });
});

describe("AccessControl's token prefixes", () => {
  function setupMinting() {
    const created: TokenRecord[] = [];
    const { access } = setup();
    // createToken writes through the catalog; this one keeps what it is given.
    Object.assign((access as unknown as { catalog: CatalogStore }).catalog, { createToken: async (record: TokenRecord) => void created.push(record) });
    return { access, created };
  }

  it.each([
    ['""', '', /must not be empty/],
    ['"/photos/"', '/photos/', /must not start with "\/"/],
    ['"a//b"', 'a//b', /empty segment/],
    ['"a/../b"', 'a/../b', /a "\.\." segment/],
    ['"./a"', './a', /a "\." segment/],
    ['of 1025 bytes', 'x'.repeat(1025), /at most 1024 bytes/],
  ])('refuses to mint a token for a prefix %s, which limits nothing or which no name can start with', async (_label, prefix, message) => {
    const { access, created } = setupMinting();
    await expect(access.createToken(BOOTSTRAP, 'write', prefix)).rejects.toMatchObject({ code: 'E_NAME_INVALID', message: expect.stringMatching(message) });
    expect(created).toEqual([]);
  });

  it.each(['photos/', 'photos', 'photos/2024-', 'a/..b', 'a/.', 'é/'])('mints a token for prefix %j', async (prefix) => {
    const { access, created } = setupMinting();
    await access.createToken(BOOTSTRAP, 'read', prefix);
    expect(created.map((record) => record.prefix)).toEqual([prefix]);
  });

  it('mints an unrestricted token when no prefix is asked, and a limited admin one for its own prefix', async () => {
    const { access, created } = setupMinting();
    await access.createToken(BOOTSTRAP, 'read', null);
    await access.createToken({ kind: 'client', tokenId: 'x', scope: 'admin', prefix: 'team/' }, 'read', null);
    expect(created.map((record) => record.prefix)).toEqual([null, 'team/']);
  });

  it('says "an admin token" when a request needs one', () => {
    const { access } = setup();
    const peer = fakePeer();
    (access as unknown as { sessions: WeakMap<RpcPeer, Session> }).sessions.set(peer, { kind: 'client', tokenId: 'x', scope: 'read', prefix: null });
    expect(() => access.authorize(peer, 'token.create')).toThrow('token.create needs an admin token, this one is read');
  });
});

describe('AccessControl and a request that awaited before it acts', () => {
  it('still lets it act while its connection is open and its token stands, and refuses it (E_AUTH) once either ended', async () => {
    const { access, issue } = setup();
    const open = (peer: RpcPeer) => Object.assign(peer, { isOpen: true });
    const [kept, revoked, closed] = [open(fakePeer()), open(fakePeer()), open(fakePeer())];
    const keptSession = await access.authenticateClient(kept, issue(), '192.0.2.7');
    const revokedSession = await access.authenticateClient(revoked, issue(), '192.0.2.7');
    const closedSession = await access.authenticateClient(closed, issue(), '192.0.2.7');

    await access.revokeToken(BOOTSTRAP, revokedSession.tokenId);
    Object.assign(closed, { isOpen: false });

    expect(() => access.requireStillAuthorized(kept, keptSession)).not.toThrow();
    expect(() => access.requireStillAuthorized(revoked, revokedSession)).toThrow(expect.objectContaining({ code: 'E_AUTH' }));
    expect(() => access.requireStillAuthorized(closed, closedSession)).toThrow(expect.objectContaining({ code: 'E_AUTH' }));
  });
});

describe('AccessControl and HTTP requests for /metrics and the dashboard API', () => {
  const ADMIN = 'Bearer cairn_admin_test';
  const WRONG = `Bearer cairn_0123456789abcdef_${'A'.repeat(43)}`;

  it('counts a wrong bearer token as a failed authentication, and locks the address out of HTTP only', async () => {
    const { access, warnings } = setup();
    for (let i = 0; i < MAX_FAILED_AUTH; i++) expect(await access.authorizeHttp(WRONG, '192.0.2.7')).toBe(false);

    // Locked out, for how long the window has left (answered 429 with Retry-After), even with the right token.
    const locked = await access.authorizeHttp(ADMIN, '192.0.2.7').catch((err: unknown) => err);
    expect(locked).toMatchObject({ code: 'E_AUTH', details: { retryAfterMs: expect.any(Number) } });
    expect((locked as { details: { retryAfterMs: number } }).details.retryAfterMs).toBeGreaterThan(0);
    expect((locked as { details: { retryAfterMs: number } }).details.retryAfterMs).toBeLessThanOrEqual(FAILED_AUTH_WINDOW_MS);
    expect(await access.authorizeHttp(ADMIN, '192.0.2.8')).toBe(true); // another address is not
    // A scraper with a stale token on the nodes' host leaves them their handshake, and clients their tokens.
    expect(access.nodeHello(fakePeer(), 'n1', 'a'.repeat(64), '192.0.2.7').nonce).toMatch(/^[0-9a-f]{64}$/);
    expect(await access.authenticateClient(fakePeer(), 'cairn_admin_test', '192.0.2.7')).toMatchObject({ tokenId: 'admin' });
    // One line per failure, and one when the address was locked out.
    expect(warnings).toHaveLength(MAX_FAILED_AUTH + 1);
    expect(JSON.stringify(warnings.at(-1))).toContain('locked out of HTTP');
    expect(JSON.stringify(warnings)).not.toContain('cairn_0123456789abcdef');
  });

  it('leaves HTTP open to an address locked out of the WebSocket, which stays locked for nodes and clients alike', async () => {
    const { access } = setup();
    for (let i = 0; i < MAX_FAILED_AUTH; i++) await expect(access.authenticateClient(fakePeer(), 'cairn_wrong', '192.0.2.7')).rejects.toMatchObject({ code: 'E_AUTH' });

    expect(() => access.nodeHello(fakePeer(), 'n1', 'a'.repeat(64), '192.0.2.7')).toThrow(expect.objectContaining({ code: 'E_AUTH' }));
    await expect(access.authenticateClient(fakePeer(), 'cairn_admin_test', '192.0.2.7')).rejects.toMatchObject({ code: 'E_AUTH' });
    expect(await access.authorizeHttp(ADMIN, '192.0.2.7')).toBe(true);
  });

  it('counts neither a request without a bearer token nor a valid token short of admin, which is told it is valid but not enough', async () => {
    const { access, issue } = setup();
    const readToken = issue();
    for (let i = 0; i < 2 * MAX_FAILED_AUTH; i++) {
      expect(await access.authorizeHttp(undefined, '192.0.2.7')).toBe(false);
      expect(await access.authorizeHttp('cairn_admin_test', '192.0.2.7')).toBe(false); // no "Bearer": never a credential
      await expect(access.authorizeHttp(`Bearer ${readToken}`, '192.0.2.7')).rejects.toMatchObject({
        code: 'E_FORBIDDEN',
        message: expect.stringContaining('take only the admin token'),
      });
    }
    expect(await access.authorizeHttp(ADMIN, '192.0.2.7')).toBe(true);
  });

  it('reads the Bearer scheme whatever its case, as HTTP says', async () => {
    const { access } = setup();
    for (const header of ['bearer cairn_admin_test', 'BEARER cairn_admin_test', 'Bearer  cairn_admin_test']) {
      expect(await access.authorizeHttp(header, '192.0.2.7')).toBe(true);
    }
  });
});
