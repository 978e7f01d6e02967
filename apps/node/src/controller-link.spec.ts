import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, utimes } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { CairnError, controllerProof, type Frame } from '@cairn/protocol';
import { openChunkStore, type ChunkStore } from '@cairn/chunk-store';
import { attachRpcServer, type NodePool, type Reply, type RpcPeer } from '@cairn/transfer';
import { createChunkService } from './chunk-service';
import { ControllerLink } from './controller-link';

const SECRET = 'controller-link-spec-secret';
const GRANT_KEY = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString();

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(what: string, done: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** One node connection as the fake controller saw it: its peer, and the chunk report it sent. */
interface Connection {
  peer: RpcPeer;
  registered: boolean;
  reported: string[];
  reportDone: boolean;
  /** The chunks whose quarantine it acknowledged, in order. */
  quarantined: string[];
}

interface FakeControllerOptions {
  /** The secret its proof is made with: another one makes it an impostor. */
  secret?: string;
  /** Runs when a node's hello arrives, before it is answered: an order sent here comes before any proof. */
  beforeChallenge?: (peer: RpcPeer) => Promise<void>;
  /** Runs on each `chunk.quarantined` before it is acknowledged: a throw is the answer instead. */
  onQuarantined?: (hash: string) => void;
  /** Runs on each page of a chunk report before it is acknowledged: a report can be held there. */
  beforeReportPage?: () => Promise<void>;
  /** The port to listen on (default: any free one): a controller back after a restart. */
  port?: number;
}

/**
 * A controller that does just the node's side of the protocol — handshake, register, heartbeats and
 * chunk reports — over the real transfer library, and lets the test send orders down each connection.
 */
async function fakeController({ secret = SECRET, beforeChallenge, onQuarantined, beforeReportPage, port = 0 }: FakeControllerOptions = {}) {
  const connections: Connection[] = [];
  const of = (peer: RpcPeer) => connections.find((c) => c.peer === peer) as Connection;
  const onRequest = async (frame: Frame, peer: RpcPeer): Promise<Reply> => {
    switch (frame.type) {
      case 'node.hello': {
        await beforeChallenge?.(peer);
        const nonce = 'c'.repeat(64);
        const proof = controllerProof(secret, { nodeId: frame.body.nodeId, nodeNonce: frame.body.nonce, controllerNonce: nonce, grantPublicKey: GRANT_KEY });
        return { type: 'node.challenge', body: { nonce, proof, grantPublicKey: GRANT_KEY } };
      }
      case 'node.register':
        of(peer).registered = true;
        return { type: 'node.registered', body: { heartbeatMs: 20 } };
      case 'node.report': {
        await beforeReportPage?.();
        const connection = of(peer);
        connection.reported.push(...frame.body.hashes);
        connection.reportDone = frame.body.done;
        return { type: 'ack', body: {} };
      }
      case 'node.heartbeat':
        return { type: 'ack', body: {} };
      case 'chunk.quarantined':
        onQuarantined?.(frame.body.hash);
        of(peer).quarantined.push(frame.body.hash);
        return { type: 'ack', body: {} };
      default:
        throw new Error(`the fake controller does not serve ${frame.type}`);
    }
  };
  const http = createServer();
  const rpc = attachRpcServer(http, {
    onRequest,
    onConnection: (peer) => connections.push({ peer, registered: false, reported: [], reportDone: false, quarantined: [] }),
  });
  await new Promise<void>((resolve) => http.listen(port, '127.0.0.1', resolve));
  return {
    address: `127.0.0.1:${(http.address() as AddressInfo).port}`,
    connections,
    async stop() {
      await rpc.close();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

/** Stores `content` as an old copy, one a deletion's age check lets go. */
async function storeOld(store: ChunkStore, content: string): Promise<string> {
  const hash = createHash('sha256').update(content).digest('hex');
  await store.put(hash, Buffer.from(content));
  const then = new Date(Date.now() - 120_000);
  await utimes(join(store.dir, 'chunks', hash.slice(0, 2), hash), then, then);
  return hash;
}

function serviceOn(store: ChunkStore) {
  return createChunkService({ store, nodeId: 'n1', nodes: {} as NodePool, grantKey: () => undefined, onQuarantined: () => undefined, clusterSecret: SECRET });
}

function linkTo(address: string, store: ChunkStore, service: ReturnType<typeof serviceOn>): ControllerLink {
  return new ControllerLink({
    quarantineRetryMs: 50,
    controller: address,
    nodeId: 'n1',
    address: '127.0.0.1:1',
    zone: null,
    store,
    log: pino({ level: 'silent' }),
    onRequest: (frame, from) => service.forController(frame, from),
    clusterSecret: SECRET,
  });
}

/** What an order came to: the answer's type, or the error's code. */
async function outcomeOf(answer: Promise<Frame>): Promise<string> {
  return answer.then(
    (frame) => frame.type,
    (err: unknown) => (err as CairnError).code,
  );
}

describe('controller link: the chunk report and deletions asked over an earlier connection', () => {
  let dir: string;
  let store: ChunkStore;
  let controller: Awaited<ReturnType<typeof fakeController>>;
  let link: ControllerLink;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-node-link-'));
    store = await openChunkStore({ dir });
    controller = await fakeController();
  });

  afterEach(async () => {
    link?.stop();
    await controller.stop();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('lists the disk over a new connection only once a deletion asked over the old one has finished', async () => {
    const doomed = await storeOld(store, 'doomed');
    const kept = await storeOld(store, 'kept');
    const service = serviceOn(store);

    // The deletion reaches the disk slowly: it runs on until the test lets it finish.
    let reclaiming = false;
    let finishReclaim!: () => void;
    const reclaimMayFinish = new Promise<void>((resolve) => (finishReclaim = resolve));
    const reclaim = store.reclaim.bind(store);
    jest.spyOn(store, 'reclaim').mockImplementation(async (hash, options) => {
      reclaiming = true;
      await reclaimMayFinish;
      return reclaim(hash, options);
    });

    link = linkTo(controller.address, store, service);
    link.start();
    await until('the first report', () => controller.connections[0]?.reportDone === true);
    const [first] = controller.connections;
    expect(first.reported.sort()).toEqual([doomed, kept].sort());

    // The controller (having unlisted it) asks for the deletion, then the connection drops mid-way.
    const answer = first.peer.request('chunk.delete', { hashes: [doomed], minAgeMs: 0 }).catch(() => undefined);
    await until('the deletion to start', () => reclaiming);
    first.peer.close();

    // The node comes back over a new connection, but does not list its disk while the deletion runs:
    // a listing now would show a copy about to go, and the controller would list it again.
    await until('the node to register again', () => controller.connections[1]?.registered === true);
    await sleep(300);
    expect(controller.connections[1].reported).toEqual([]);
    expect(controller.connections[1].reportDone).toBe(false);

    finishReclaim();
    await answer;
    await until('the second report', () => controller.connections[1].reportDone);
    expect(controller.connections[1].reported).toEqual([kept]);
    expect(await store.has(doomed)).toBe(false);
  });
});

describe('controller link: no order is served before the controller has proved itself', () => {
  let dir: string;
  let store: ChunkStore;
  let controller: Awaited<ReturnType<typeof fakeController>> | undefined;
  let link: ControllerLink | undefined;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-node-link-'));
    store = await openChunkStore({ dir });
  });

  afterEach(async () => {
    link?.stop();
    await controller?.stop();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** A controller that orders `hash` deleted as soon as the node says hello, before it answers. */
  async function orderingDeletionAtHello(hash: string, secret?: string) {
    const outcomes: string[] = [];
    controller = await fakeController({
      secret,
      beforeChallenge: async (peer) => void outcomes.push(await outcomeOf(peer.request('chunk.delete', { hashes: [hash], minAgeMs: 0 }))),
    });
    link = linkTo(controller.address, store, serviceOn(store));
    link.start();
    return { outcomes, connections: controller.connections };
  }

  it('refuses an impostor without the cluster secret (E_AUTH), and keeps the chunk it ordered deleted', async () => {
    const hash = await storeOld(store, 'wanted by an impostor');

    const { outcomes } = await orderingDeletionAtHello(hash, 'not-the-cluster-secret');

    await until('the order to be answered', () => outcomes.length > 0);
    expect(outcomes[0]).toBe('E_AUTH');
    expect(await store.has(hash)).toBe(true);
  });

  it('refuses an order sent before the handshake even by the real controller, and serves it once the proof is checked', async () => {
    const hash = await storeOld(store, 'ordered too early');

    const { outcomes, connections } = await orderingDeletionAtHello(hash);

    await until('the node to register', () => connections[0]?.registered === true);
    expect(outcomes).toEqual(['E_AUTH']);
    expect(await store.has(hash)).toBe(true);

    const answer = await connections[0].peer.request('chunk.delete', { hashes: [hash], minAgeMs: 0 });
    expect(answer).toMatchObject({ type: 'chunk.deleted', body: { deleted: [true] } });
    expect(await store.has(hash)).toBe(false);
  });
});

describe('controller link: quarantined chunks are reported until the controller has heard of them', () => {
  let dir: string;
  let store: ChunkStore;
  let controllers: Array<Awaited<ReturnType<typeof fakeController>>>;
  let link: ControllerLink | undefined;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-node-link-'));
    store = await openChunkStore({ dir });
    controllers = [];
  });

  afterEach(async () => {
    link?.stop();
    for (const controller of controllers) await controller.stop();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function startController(options: FakeControllerOptions = {}) {
    const controller = await fakeController(options);
    controllers.push(controller);
    return controller;
  }

  /** A chunk stored, then moved to quarantine as a scrub would: gone from the disk's listing. */
  async function quarantined(content: string): Promise<string> {
    const hash = await storeOld(store, content);
    expect(await store.quarantine(hash)).toBe(true);
    return hash;
  }

  function linkUp(address: string): ControllerLink {
    link = linkTo(address, store, serviceOn(store));
    link.start();
    return link;
  }

  it('reports a quarantine again when the controller failed to take it (busy), until it is acknowledged', async () => {
    const attempts: string[] = [];
    const controller = await startController({
      onQuarantined: (hash) => {
        attempts.push(hash);
        if (attempts.length === 1) throw new CairnError('E_UNAVAILABLE', 'the controller is busy');
      },
    });
    const node = linkUp(controller.address);
    await until('the chunk report', () => controller.connections[0]?.reportDone === true);
    const hash = await quarantined('rotten');

    node.notifyQuarantined(hash, 'scrub');

    await until('the quarantine to be acknowledged', () => controller.connections[0].quarantined.length > 0);
    expect(controller.connections[0].quarantined).toEqual([hash]);
    await sleep(300); // several retry periods: an acknowledged quarantine is not reported again
    expect(attempts).toEqual([hash, hash]);
    expect(controller.connections).toHaveLength(1); // over the same connection, which stayed up
  });

  it('reports a quarantine made while the link was down once it is back, without waiting for the chunk report', async () => {
    const first = await startController();
    const hash = await storeOld(store, 'rots while the controller is away');
    const node = linkUp(first.address);
    await until('the first chunk report', () => first.connections[0]?.reportDone === true);
    expect(first.connections[0].reported).toEqual([hash]);

    await first.stop(); // the controller restarts: the link is down meanwhile
    await sleep(100);
    expect(await store.quarantine(hash)).toBe(true);
    node.notifyQuarantined(hash, 'scrub');
    let releaseReport!: () => void;
    const reportHeld = new Promise<void>((resolve) => (releaseReport = resolve));
    const back = await startController({ port: Number(first.address.split(':')[1]), beforeReportPage: () => reportHeld });

    await until('the quarantine to be reported', () => back.connections.some((c) => c.quarantined.length > 0), 15_000);
    const connection = back.connections.find((c) => c.quarantined.length > 0) as Connection;
    expect(connection.quarantined).toEqual([hash]);
    expect(connection.reportDone).toBe(false); // the report alone would have told it only later
    releaseReport();
    await until('the chunk report', () => connection.reportDone);
    expect(connection.reported).toEqual([]);
  });

  it('stops reporting a quarantine the controller keeps refusing once a chunk report on a new connection has covered it', async () => {
    let attempts = 0;
    const controller = await startController({
      onQuarantined: () => {
        attempts++;
        throw new CairnError('E_UNAVAILABLE', 'the controller is busy');
      },
    });
    const kept = await storeOld(store, 'kept');
    const node = linkUp(controller.address);
    await until('the chunk report', () => controller.connections[0]?.reportDone === true);
    const hash = await quarantined('rotten, and never acknowledged');

    node.notifyQuarantined(hash, 'E_CORRUPT');
    await until('the quarantine to be retried', () => attempts >= 2);
    controller.connections[0].peer.close(); // the node reconnects, and reports its chunks again

    await until('the second chunk report', () => controller.connections[1]?.reportDone === true);
    expect(controller.connections[1].reported).toEqual([kept]); // the controller now knows the chunk is gone
    await sleep(100); // a report in flight when the chunk report ended is answered
    const afterReport = attempts;
    await sleep(500); // several retry periods
    expect(attempts).toBe(afterReport);
    expect(controller.connections).toHaveLength(2);
  });

  it.each(['E_NOT_FOUND', 'E_BAD_MESSAGE'] as const)(
    'drops a quarantine the controller refuses for good (%s), and those noted after it still go out',
    async (code) => {
      const refusals: string[] = [];
      const controller = await startController({
        onQuarantined: (hash) => {
          if (hash !== refused) return;
          refusals.push(hash);
          throw new CairnError(code, 'refused');
        },
      });
      const node = linkUp(controller.address);
      await until('the chunk report', () => controller.connections[0]?.reportDone === true);
      const refused = await quarantined(`refused for good: ${code}`);
      const after = [await quarantined(`noted after the refused one: ${code}, 1`), await quarantined(`noted after the refused one: ${code}, 2`)];

      node.notifyQuarantined(refused, 'scrub');
      for (const hash of after) node.notifyQuarantined(hash, 'scrub');

      await until('the later quarantines to be acknowledged', () => controller.connections[0].quarantined.length === after.length, 3_000);
      expect(controller.connections[0].quarantined).toEqual(after);
      await sleep(300); // several retry periods: a report refused for good is not sent again
      expect(refusals).toEqual([refused]);
      expect(controller.connections).toHaveLength(1);
    },
  );

  it('sends the quarantines noted after one the controller keeps failing on (E_INTERNAL), and tries that one again', async () => {
    const failures: string[] = [];
    let stuck = '';
    const controller = await startController({
      onQuarantined: (hash) => {
        if (hash !== stuck) return;
        failures.push(hash);
        throw new CairnError('E_INTERNAL', 'the catalog failed');
      },
    });
    const node = linkUp(controller.address);
    await until('the chunk report', () => controller.connections[0]?.reportDone === true);
    stuck = await quarantined('the controller fails on this one');
    const after = await quarantined('noted after the one it fails on');

    node.notifyQuarantined(stuck, 'scrub');
    node.notifyQuarantined(after, 'scrub');

    await until('the later quarantine to be acknowledged', () => controller.connections[0].quarantined.includes(after), 3_000);
    await until('the failed one to be tried again', () => failures.length >= 2, 3_000);
    expect(controller.connections[0].quarantined).toEqual([after]);
    expect(controller.connections).toHaveLength(1);
  });

  it('does not report a chunk stored again since its quarantine: that copy is a good one', async () => {
    const controller = await startController();
    const node = linkUp(controller.address);
    await until('the chunk report', () => controller.connections[0]?.reportDone === true);
    const restored = await quarantined('repaired here before the report went out');
    await storeOld(store, 'repaired here before the report went out');
    const gone = await quarantined('still gone');

    node.notifyQuarantined(restored, 'scrub'); // noted first, so it would be reported first
    node.notifyQuarantined(gone, 'scrub');

    await until('the quarantine to be reported', () => controller.connections[0].quarantined.length > 0);
    expect(controller.connections[0].quarantined).toEqual([gone]);
  });
});

describe('controller link: registered only while its connection to the controller lasts', () => {
  let dir: string;
  let store: ChunkStore;
  let link: ControllerLink | undefined;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-node-link-'));
    store = await openChunkStore({ dir });
  });

  afterEach(async () => {
    link?.stop();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('is registered once the handshake is done, no longer once the controller is gone, and again when it is back', async () => {
    const first = await fakeController();
    link = linkTo(first.address, store, serviceOn(store));
    expect(link.registered).toBe(false);
    link.start();
    await until('the node to register', () => link?.registered === true);

    await first.stop(); // as a controller killed: its connections drop
    await until('the node to see the link lost', () => link?.registered === false);

    const back = await fakeController({ port: Number(first.address.split(':')[1]) });
    try {
      await until('the node to register again', () => back.connections[0]?.registered === true && link?.registered === true);
    } finally {
      link.stop();
      await back.stop();
    }
  });
});
