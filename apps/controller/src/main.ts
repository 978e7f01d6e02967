import { createServer } from 'node:http';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { isCairnError } from '@cairn/protocol';
import { openSqliteCatalog } from '@cairn/registry';
import { attachRpcServer, createProbeHandler } from '@cairn/transfer';
import { parseControllerConfig } from './config';
import { Cluster } from './cluster';
import { createRequestHandler } from './handlers';
import { startUploadSweeper } from './upload-sweeper';
import { Healer } from './healer';

/** Heartbeats come several times per node timeout, and at least every second. */
const heartbeatInterval = (nodeTimeoutMs: number) => Math.max(50, Math.min(1000, Math.floor(nodeTimeoutMs / 4)));

async function main(): Promise<void> {
  const config = parseControllerConfig(process.argv.slice(2));
  const log = pino({ level: config.logLevel, base: { role: 'controller' } });
  mkdirSync(config.data, { recursive: true, mode: 0o700 });
  const catalog = await openSqliteCatalog({ path: join(config.data, 'catalog.db') });
  const cluster = await Cluster.load(catalog, config.nodeTimeoutMs);
  const healer = new Healer({
    catalog,
    cluster,
    log,
    gcGraceMs: config.gcGraceMs,
    repairConcurrency: config.repairConcurrency,
    intervalMs: Math.min(1000, config.nodeTimeoutMs),
  });
  const handle = createRequestHandler({
    catalog,
    cluster,
    healer,
    defaultReplicas: config.replicas,
    heartbeatMs: heartbeatInterval(config.nodeTimeoutMs),
    log,
  });

  const stopSweeper = startUploadSweeper(catalog, log, config.gcGraceMs);
  healer.start();
  const server = createServer(createProbeHandler(() => true));
  const rpc = attachRpcServer(server, {
    onRequest: handle,
    onProtocolError: (err) => log.warn({ code: err.code }, `protocol error from a peer: ${err.message}`),
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  log.info({ host: config.host, port, data: config.data, replicas: config.replicas }, `controller listening on ${config.host}:${port}`);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    stopSweeper();
    healer.stop();
    server.closeAllConnections();
    await rpc.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await catalog.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((err) => {
  process.stderr.write(`cairn-controller: ${isCairnError(err) ? err.message : (err as Error)?.stack ?? err}\n`);
  process.exit(isCairnError(err, 'E_USAGE') ? 2 : 1);
});
