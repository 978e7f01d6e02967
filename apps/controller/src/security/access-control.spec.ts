import { generateKeyPairSync } from 'node:crypto';
import type { Logger } from 'pino';
import type { CatalogStore } from '@cairn/registry';
import type { RpcPeer } from '@cairn/transfer';
import { AccessControl, type Session } from './access-control';
import type { ControllerKeys } from './key-files';

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

function setup() {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const keys: ControllerKeys = {
    clusterSecret: 's'.repeat(64),
    adminToken: 'cairn_admin_test',
    grantPrivateKey: privateKey,
    grantPublicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
  const warnings: unknown[][] = [];
  const log = { warn: (...args: unknown[]) => warnings.push(args), info: () => undefined } as unknown as Logger;
  const catalog = { getToken: async () => undefined, revokeToken: async () => true } as unknown as CatalogStore;
  return { access: new AccessControl(catalog, keys, log), warnings };
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
    expect(peer.closes).toEqual([4001]);
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
