import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import { nodeProof, type Body, type ControlType, type Frame } from '@cairn/protocol';
import { openSqliteCatalog, type CatalogStore } from '@cairn/registry';
import type { Reply, RpcPeer } from '@cairn/transfer';
import { type HandlerContext, createRequestHandler } from '../handlers';
import { AccessControl } from '../security/access-control';
import { answer } from './reply-body';

type HandlerContextParts = Record<string, unknown>;

/** Sends one request on a client connection and gives the handler's reply. */
export type SendRequest = <T extends ControlType>(type: T, body: Body<T>) => Promise<Reply>;

/**
 * The controller's request handlers over a real catalog (in a temp directory) and real access
 * control, for specs of requests that need no processes. The rest of the handlers' context (a
 * cluster, a healer) is the spec's: only what its requests use.
 */
export interface HandlerFixture {
  catalog: CatalogStore;
  /** The bootstrap admin token, which has every scope and no prefix. */
  adminToken: string;
  /** A client connection authenticated with `token` (the admin token by default). */
  connect(token?: string): Promise<SendRequest>;
  /**
   * A node's connection, through the handshake (`node.hello`, `node.register`) as node `nodeId`: the
   * context needs a cluster that can register it (a real Cluster, say).
   */
  connectNode(nodeId: string): Promise<SendRequest>;
  close(): Promise<void>;
}

/**
 * `context`: the parts of the handlers' context besides the catalog and access control, stand-ins
 * as a rule; or a function making them from the catalog (a real Cluster, say). The log is a silent
 * one unless `log` is given.
 */
export async function startHandlerFixture(context: HandlerContextParts | ((catalog: CatalogStore) => Promise<HandlerContextParts>) = {}): Promise<HandlerFixture> {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-handlers-'));
  const catalog = await openSqliteCatalog({ path: join(dir, 'catalog.db') });
  const adminToken = 'cairn_admin_handler_fixture';
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const keys = { clusterSecret: 's'.repeat(64), adminToken, grantPrivateKey: privateKey, grantPublicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
  const parts = typeof context === 'function' ? await context(catalog) : context;
  const log = (parts['log'] as Logger | undefined) ?? pino({ level: 'silent' });
  const ctx = { ...parts, catalog, access: new AccessControl(catalog, keys, log), log } as unknown as HandlerContext;
  const handle = createRequestHandler(ctx, () => '127.0.0.1');
  let requestId = 0;
  const open = (): SendRequest => {
    // Closed as a revocation closes it: at once, its requests under way still running.
    let markClosed!: () => void;
    const closed = new Promise<void>((resolve) => (markClosed = resolve));
    const state = { isOpen: true, closed, close: () => ((state.isOpen = false), markClosed()) };
    const peer = state as unknown as RpcPeer;
    return async (type, body) => handle({ type, requestId: ++requestId, body } as Frame, peer);
  };
  return {
    catalog,
    adminToken,
    connect: async (token = adminToken) => {
      const send = open();
      await send('session.auth', { token });
      return send;
    },
    connectNode: async (nodeId) => {
      const send = open();
      const nodeNonce = 'a'.repeat(64);
      const challenge = answer(await send('node.hello', { nodeId, nonce: nodeNonce }), 'node.challenge');
      const proof = nodeProof(keys.clusterSecret, { nodeId, nodeNonce, controllerNonce: challenge.nonce, grantPublicKey: challenge.grantPublicKey });
      await send('node.register', { nodeId, address: '127.0.0.1:7701', zone: null, capacity: 1e9, used: 0, chunks: 0, proof });
      return send;
    },
    close: async () => {
      await catalog.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
