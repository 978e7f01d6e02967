import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeDirectoryTree, openChunkStore } from '@cairn/chunk-store';
import { clusterKey } from '@cairn/protocol';
import { InboundBudget, NodePool, UncheckedMessages, attachRpcServer, createHttpHandler, createProcessLogger, createProcessServer, listen, lockDataDirectory, requireAuthorized, runMain, stopOnSignals, tuneGarbageCollectorForChunks, type HttpAuthorizer } from '@cairn/transfer';
import { parseNodeConfig } from './config';
import { loadOrCreateNodeId } from './node-identity';
import { ClusterMembership } from './cluster-membership';
import { createChunkService } from './chunk-service';
import { ControllerLink } from './controller-link';
import { scheduleScrub } from './scrub-schedule';
import { scheduleListedChunksCheck } from './listed-chunks-check';
import { loadClusterSecret } from './cluster-secret';
import { overCapacityWarning } from './startup-checks';
import { createNodeMetrics } from './metrics';
import { UNCHECKED_MESSAGE_BYTES, UNCHECKED_MESSAGE_BYTES_PER_ADDRESS, chunkReceiveMemory } from './receive-memory';

/**
 * Bytes of client requests (chunks, mostly) a node holds before it stops reading from its clients
 * until answers free room: 16 chunks of 4 MiB, twice what the chunk store's 8 write slots take at once,
 * so the disk always has work queued. It bounds what a node holds for puts whatever the number of
 * clients (reads are bounded per connection, by rpc-peer.ts's turns).
 */
const INBOUND_BUDGET_BYTES = 64 * 1024 * 1024;

async function main(): Promise<void> {
  const config = parseNodeConfig(process.argv.slice(2));
  await makeDirectoryTree(config.data); // mode 0700; a new one's name fsynced, so a power cut keeps it
  const lock = await lockDataDirectory(config.data, 'node'); // before the store clears its temp and blank files
  const nodeId = await loadOrCreateNodeId(config.data);
  const log = createProcessLogger({ level: config.logLevel, format: config.logFormat, base: { role: 'node', node: nodeId } });
  const clusterSecret = await loadClusterSecret(config.clusterSecretFile);
  clusterKey(clusterSecret); // stretched once here (~0.1 s), not during the handshake or the first put
  const ca = config.ca ? await readFile(config.ca) : undefined;
  const store = await openChunkStore({ dir: join(config.data, 'store'), capacity: config.capacity });
  const overCapacity = overCapacityWarning(store.stats(), config.capacity);
  if (overCapacity) log.warn(store.stats(), overCapacity);

  // The link needs the server's bound address, and the server's handlers need the link: a late binding.
  const late: { link?: ControllerLink } = {};
  const nodes = new NodePool({ requestTimeoutMs: 60_000, ca });
  const service = createChunkService({
    store,
    nodeId,
    nodes,
    grantKey: () => late.link?.grantKey,
    clusterSecret,
    onQuarantined: (hash, reason) => {
      log.warn({ hash, reason }, 'chunk failed verification; quarantined');
      late.link?.notifyQuarantined(hash, reason);
    },
    // The upload id (from the put grant) is the request id that follows a put through the client's,
    // the controller's and the nodes' logs (docs/architecture.md, "Following one put through the logs").
    onStored: (chunk) => log.debug(chunk, 'chunk stored'),
  });
  // Plain HTTP on the same port: probes and /metrics. A node knows no client tokens, and its metrics
  // carry no names or secrets, so they are open; bind --host to a private interface (docs/security.md).
  const authorize: HttpAuthorizer = () => true;
  const inbound = new InboundBudget(INBOUND_BUDGET_BYTES);
  const unchecked = new UncheckedMessages(UNCHECKED_MESSAGE_BYTES, UNCHECKED_MESSAGE_BYTES_PER_ADDRESS);
  const metrics = createNodeMetrics({ store, registered: () => late.link?.registered ?? false, inbound, unchecked });
  const server = createProcessServer(
    createHttpHandler({
      isReady: () => late.link?.registered ?? false,
      routes: { '/metrics': requireAuthorized(authorize, metrics.serve) },
      onError: (err, request) => log.warn({ err, path: request.url }, 'HTTP request failed'),
    }),
    config.tls,
  );
  const rpc = attachRpcServer(server, {
    onRequest: metrics.instrument(service.forClients),
    inboundBudget: inbound,
    // A big chunk is received where the store writes it from once its grant has verified; any other
    // large message only within the room for unchecked ones.
    receiveInto: chunkReceiveMemory(store, {
      mayPut: service.mayPut,
      unchecked,
      onRefused: (reason, remote) => log.warn({ remote }, `message refused, connection closed: ${reason}`),
    }),
    onLimit: (reason, remote) => log.warn({ remote }, `connection refused or closed: ${reason}`),
    idleTimeoutMs: config.idleTimeoutMs,
    onProtocolError: (err) => log.warn({ code: err.code }, `protocol error from a peer: ${err.message}`),
  });
  await listen(server, config.host, config.port);
  const bound = server.address();
  const port = typeof bound === 'object' && bound ? bound.port : config.port;
  const hostPort = `${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  const listening = config.tls ? `wss://${hostPort}` : hostPort;
  const address = config.advertise ?? listening; // what clients are told to connect to

  const membership = new ClusterMembership(config.data, () => store.stats().chunks, (message) => log.warn(message));
  const link = new ControllerLink({ controller: config.controller, nodeId, address, zone: config.zone, store, log, onRequest: metrics.instrument(service.forController), clusterSecret, ca, membership });
  late.link = link;
  link.start();
  const stopScrub = scheduleScrub(store, config.scrubIntervalMs, log, (hash) => link.notifyQuarantined(hash, 'scrub'));
  // Chunk files gone from the disk, which no scrub finds: every min(--scrub-interval, 1 h).
  const stopListedCheck = scheduleListedChunksCheck({ link, store, log }, config.scrubIntervalMs);

  stopOnSignals(async (signal) => {
    log.info({ signal }, 'shutting down');
    stopScrub();
    stopListedCheck();
    link.stop();
    await nodes.close();
    server.closeAllConnections();
    await rpc.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await store.close();
    await lock.release();
  });
  // Announced only once a SIGTERM would be handled: a supervisor may stop us as soon as it reads this.
  const announced = config.advertise ? `, announced to clients as ${config.advertise}` : '';
  log.info({ address: listening, advertise: config.advertise, data: config.data, ...store.stats() }, `node ${nodeId} listening on ${listening}${announced}`);
}

tuneGarbageCollectorForChunks();
runMain('cairn-node', main);
