import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, utimes } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { controllerProof, type CairnError, type Frame } from '@cairn/protocol';
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
}

interface FakeControllerOptions {
  /** The secret its proof is made with: another one makes it an impostor. */
  secret?: string;
  /** Runs when a node's hello arrives, before it is answered: an order sent here comes before any proof. */
  beforeChallenge?: (peer: RpcPeer) => Promise<void>;
}

/**
 * A controller that does just the node's side of the protocol — handshake, register, heartbeats and
 * chunk reports — over the real transfer library, and lets the test send orders down each connection.
 */
async function fakeController({ secret = SECRET, beforeChallenge }: FakeControllerOptions = {}) {
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
        const connection = of(peer);
        connection.reported.push(...frame.body.hashes);
        connection.reportDone = frame.body.done;
        return { type: 'ack', body: {} };
      }
      case 'node.heartbeat':
        return { type: 'ack', body: {} };
      default:
        throw new Error(`the fake controller does not serve ${frame.type}`);
    }
  };
  const http = createServer();
  const rpc = attachRpcServer(http, {
    onRequest,
    onConnection: (peer) => connections.push({ peer, registered: false, reported: [], reportDone: false }),
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
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
