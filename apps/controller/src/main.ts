import './young-generation'; // first: it must run before the rest of the controller is loaded
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { MAX_CONTROL_FRAME_SIZE, clusterKey } from '@cairn/protocol';
import { openSqliteCatalog } from '@cairn/registry';
import {
  RpcPeer,
  attachRpcServer,
  createHttpHandler,
  createProcessLogger,
  createProcessServer,
  listen,
  requireAuthorized,
  runMain,
  stopOnSignals,
  lockDataDirectory,
  type HttpAuthorizer,
} from '@cairn/transfer';
import { parseControllerConfig } from './config';
import { Cluster } from './cluster';
import { createRequestHandler } from './handlers';
import { startUploadSweeper } from './upload-sweeper';
import { Healer } from './healer';
import { resumeForgottenNodes } from './forgotten-nodes';
import { createControllerMetrics } from './metrics';
import { HealthLog } from './health-log';
import { reusedTotals } from './cluster-status';
import { controllerSources, createDashboard } from './dashboard';
import { loadControllerKeys } from './security/key-files';
import { AccessControl } from './security/access-control';
import { GrantSigner } from './security/grant-signer';

/** Heartbeats come several times per node timeout, and at least every second. */
const heartbeatInterval = (nodeTimeoutMs: number) =>
  Math.max(50, Math.min(1000, Math.floor(nodeTimeoutMs / 4)));

async function main(): Promise<void> {
  const config = parseControllerConfig(process.argv.slice(2));
  const log = createProcessLogger({ level: config.logLevel, format: config.logFormat, base: { role: 'controller' } });
  mkdirSync(config.data, { recursive: true, mode: 0o700 });
  const lock = await lockDataDirectory(config.data, 'controller'); // before anything in it is read or written
  const keys = await loadControllerKeys(config.data);
  clusterKey(keys.clusterSecret); // stretched once here (~0.1 s), not during the first node's handshake
  const grants = new GrantSigner(keys.grantPrivateKey);
  const catalog = await openSqliteCatalog({
    path: join(config.data, 'catalog.db'),
  });
  const cluster = await Cluster.load(catalog, config.nodeTimeoutMs);
  const healer = new Healer({
    catalog,
    cluster,
    log,
    gcGraceMs: config.gcGraceMs,
    repairConcurrency: config.repairConcurrency,
    repairBytesPerSecond: config.repairBytesPerSecond,
    grants,
    intervalMs: Math.min(1000, config.nodeTimeoutMs),
  });
  const access = new AccessControl(catalog, keys, log);
  const remoteAddresses = new WeakMap<RpcPeer, string>();
  const handle = createRequestHandler(
    {
      catalog,
      cluster,
      healer,
      access,
      grants,
      defaultReplicas: config.replicas,
      heartbeatMs: heartbeatInterval(config.nodeTimeoutMs),
      log,
      clusterId: await catalog.clusterId(),
    },
    (peer) => remoteAddresses.get(peer) ?? 'unknown',
  );

  const stopSweeper = startUploadSweeper(catalog, log, config.gcGraceMs, (hashes) => healer.checkAbandonedCopies(hashes));
  const totals = reusedTotals(catalog);
  const healthLog = new HealthLog({ catalog: totals, cluster, healer, log });
  healer.observePasses(() => healthLog.check());
  healthLog.start(heartbeatInterval(config.nodeTimeoutMs)); // often enough to see a node suspect (from half the timeout)
  const deaths = setInterval(
    () => void cluster.recordDeaths().catch((err: unknown) => log.warn({ err }, 'could not record a dead node in the catalog')),
    heartbeatInterval(config.nodeTimeoutMs),
  );
  healer.start();
  void resumeForgottenNodes(catalog, log); // nodes forgotten before a stop whose rows are not all gone
  // Plain HTTP on the same port: probes (never behind auth), /metrics and the dashboard (README: Dashboard and metrics).
  // /metrics and the dashboard's /api/* need the admin token (`Authorization: Bearer …`); probes never do.
  // A wrong token counts against its address as a failed session.auth does (AccessControl.authorizeHttp).
  const authorize: HttpAuthorizer = (request) => access.authorizeHttp(request.headers.authorization, request.socket.remoteAddress ?? 'unknown');
  const metrics = createControllerMetrics({ catalog: totals, cluster, healer });
  const dashboard = createDashboard({
    sources: controllerSources({ catalog: { ...totals, listFiles: catalog.listFiles.bind(catalog) }, cluster, healer }),
    authorize,
    staticDir: join(__dirname, 'dashboard'),
    onError: (err) => log.warn({ err }, 'dashboard overview failed'),
  });
  let catalogOpen = true;
  const server = createProcessServer(
    createHttpHandler({
      isReady: () => catalogOpen,
      routes: { ...dashboard.routes, '/metrics': requireAuthorized(authorize, metrics.serve) },
      onError: (err, request) => log.warn({ err, path: request.url }, 'HTTP request failed'),
    }),
    config.tls,
  );
  const rpc = attachRpcServer(server, {
    onRequest: metrics.instrument(handle),
    onLimit: (reason, remote) => log.warn({ remote }, `connection refused or closed: ${reason}`),
    idleTimeoutMs: config.idleTimeoutMs,
    // No chunk ever comes to the controller: a peer's unfinished message holds at most ~1 MiB here.
    maxPayload: MAX_CONTROL_FRAME_SIZE,
    onConnection: (peer) => remoteAddresses.set(peer, peer.remoteAddress ?? 'unknown'),
    onProtocolError: (err) =>
      log.warn(
        { code: err.code },
        `protocol error from a peer: ${err.message}`,
      ),
  });
  await listen(server, config.host, config.port);
  const address = server.address();
  const port =
    typeof address === 'object' && address ? address.port : config.port;
  const scheme = config.tls ? 'wss' : 'ws';

  stopOnSignals(async (signal) => {
    log.info({ signal }, 'shutting down');
    stopSweeper();
    healthLog.stop();
    clearInterval(deaths);
    healer.stop();
    catalogOpen = false;
    dashboard.close();
    server.closeAllConnections();
    await rpc.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await catalog.close();
    await lock.release();
  });
  // Announced only once a SIGTERM would be handled: a supervisor may stop us as soon as it reads this.
  log.info(
    {
      host: config.host,
      port,
      tls: Boolean(config.tls),
      data: config.data,
      replicas: config.replicas,
    },
    `controller listening on ${config.host}:${port} (${scheme}://…/ws)`,
  );
}

runMain('cairn-controller', main);
