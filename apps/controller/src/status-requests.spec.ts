import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import type { Frame } from '@cairn/protocol';
import { openSqliteCatalog, type CatalogStore } from '@cairn/registry';
import type { RpcPeer } from '@cairn/transfer';
import { type HandlerContext, createRequestHandler } from './handlers';
import { AccessControl } from './security/access-control';
import { answer } from './testing/reply-body';

const ADMIN_TOKEN = 'cairn_admin_token_status_test';
const log = pino({ level: 'silent' });

/**
 * `cluster.status` is open to any token and its totals read the whole catalog: a client with many
 * requests in flight must not make the controller read it once per request.
 */
describe('cluster.status requests', () => {
  let dir: string;
  let catalog: CatalogStore;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-status-requests-'));
    catalog = await openSqliteCatalog({ path: join(dir, 'catalog.db') });
  });

  afterEach(async () => {
    jest.restoreAllMocks();
    await catalog.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('share one reading of the catalog when they arrive together, and still answer each', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const keys = { clusterSecret: 's'.repeat(64), adminToken: ADMIN_TOKEN, grantPrivateKey: privateKey, grantPublicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
    const cluster = { list: () => [], healthyNodeIds: () => new Set<string>() };
    const healer = { counters: { queued: 0, running: 0, copiedChunks: 0, copiedBytes: 0, deletedChunks: 0 } };
    const ctx = { catalog, cluster, healer, access: new AccessControl(catalog, keys, log), log } as unknown as HandlerContext;
    const handle = createRequestHandler(ctx, () => '127.0.0.1');
    const peer = { isOpen: true, closed: new Promise<void>(() => undefined), close: () => undefined } as unknown as RpcPeer;
    await handle({ type: 'session.auth', requestId: 1, body: { token: ADMIN_TOKEN } } as Frame, peer);
    const stats = jest.spyOn(catalog, 'stats');
    const health = jest.spyOn(catalog, 'replicationHealth');

    const answers = await Promise.all(Array.from({ length: 64 }, (_, i) => handle({ type: 'cluster.status', requestId: 2 + i, body: {} } as Frame, peer)));

    for (const reply of answers) expect(answer(reply, 'cluster.info')).toMatchObject({ files: 0, underReplicated: 0, lost: 0 });
    expect(stats).toHaveBeenCalledTimes(1);
    expect(health).toHaveBeenCalledTimes(1);
  });
});
