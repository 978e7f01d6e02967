import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, utimes } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { controllerProof, type Frame } from '@cairn/protocol';
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

/**
 * A controller that does just the node's side of the protocol — handshake, register, heartbeats and
 * chunk reports — over the real transfer library, and lets the test send orders down each connection.
 */
async function fakeController() {
  const connections: Connection[] = [];
  const of = (peer: RpcPeer) => connections.find((c) => c.peer === peer) as Connection;
  const onRequest = async (frame: Frame, peer: RpcPeer): Promise<Reply> => {
    switch (frame.type) {
      case 'node.hello': {
        const nonce = 'c'.repeat(64);
        const proof = controllerProof(SECRET, { nodeId: frame.body.nodeId, nodeNonce: frame.body.nonce, controllerNonce: nonce, grantPublicKey: GRANT_KEY });
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

  async function stored(content: string): Promise<string> {
    const hash = createHash('sha256').update(content).digest('hex');
    await store.put(hash, Buffer.from(content));
    const then = new Date(Date.now() - 120_000); // an old copy: the deletion's age check lets it go
    await utimes(join(dir, 'chunks', hash.slice(0, 2), hash), then, then);
    return hash;
  }

  it('lists the disk over a new connection only once a deletion asked over the old one has finished', async () => {
    const doomed = await stored('doomed');
    const kept = await stored('kept');
    const service = createChunkService({ store, nodeId: 'n1', nodes: {} as NodePool, grantKey: () => undefined, onQuarantined: () => undefined, clusterSecret: SECRET });

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

    link = new ControllerLink({
      controller: controller.address,
      nodeId: 'n1',
      address: '127.0.0.1:1',
      zone: null,
      store,
      log: pino({ level: 'silent' }),
      onRequest: (frame, from) => service.forController(frame, from),
      clusterSecret: SECRET,
    });
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
