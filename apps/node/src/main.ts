import { createServer } from 'node:http';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import pino from 'pino';
import { isCairnError } from '@cairn/protocol';
import { openChunkStore } from '@cairn/chunk-store';
import { attachRpcServer, createProbeHandler } from '@cairn/transfer';
import { parseNodeConfig } from './config';
import { loadOrCreateNodeId } from './node-identity';
import { createChunkService } from './chunk-service';
import { ControllerLink } from './controller-link';

async function main(): Promise<void> {
  const config = parseNodeConfig(process.argv.slice(2));
  await mkdir(config.data, { recursive: true, mode: 0o700 });
  const nodeId = await loadOrCreateNodeId(config.data);
  const log = pino({ level: config.logLevel, base: { role: 'node', node: nodeId } });
  const store = await openChunkStore({ dir: join(config.data, 'store'), capacity: config.capacity });

  let registered = () => false;
  const server = createServer(createProbeHandler(() => registered()));
  const rpc = attachRpcServer(server, {
    onRequest: createChunkService(store),
    onProtocolError: (err) => log.warn({ code: err.code }, `protocol error from a peer: ${err.message}`),
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const bound = server.address();
  const port = typeof bound === 'object' && bound ? bound.port : config.port;
  const address = config.advertise ?? `${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  log.info({ address, data: config.data, ...store.stats() }, `node ${nodeId} listening on ${address}`);

  const link = new ControllerLink({ controller: config.controller, nodeId, address, zone: config.zone, store, log });
  registered = () => link.registered;
  link.start();

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    link.stop();
    server.closeAllConnections();
    await rpc.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await store.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((err) => {
  process.stderr.write(`cairn-node: ${isCairnError(err) ? err.message : (err as Error)?.stack ?? err}\n`);
  process.exit(isCairnError(err, 'E_USAGE') ? 2 : 1);
});
