import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CairnError, FileInfo } from '@cairn/protocol';
import { NodePool } from './node-pool';
import { expectFrame } from './rpc-peer';
import { attachRpcServer } from './rpc-server';
import { sha256 } from './hashing';
import { startSlowLink } from './testing/slow-link';

const cleanups: Array<() => unknown> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function codeOf(promise: Promise<unknown>): Promise<string> {
  return promise.then(
    () => 'resolved',
    (err: unknown) => (err instanceof CairnError ? err.code : `not a CairnError: ${String(err)}`),
  );
}

function fileInfo(name: string): FileInfo {
  return { id: 1, name, size: 0, sha256: sha256(new Uint8Array(0)), replicas: 1, chunkCount: 0, createdAt: 0, updatedAt: 0 };
}

/** A server that answers every `file.stat` at once, unless `hanging` (then it never answers), reached through a link that can freeze. */
async function nodeBehindLink() {
  const state = { hanging: false };
  const http = createServer();
  const rpc = attachRpcServer(http, {
    onRequest: (frame) => {
      if (frame.type !== 'file.stat') throw new CairnError('E_UNKNOWN_TYPE', frame.type);
      if (state.hanging) return new Promise<never>(() => undefined);
      return { type: 'file.info', body: { file: fileInfo(frame.body.name) } };
    },
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const link = await startSlowLink((http.address() as AddressInfo).port, 1024 * 1024 * 1024);
  cleanups.push(async () => {
    await link.close();
    await rpc.close();
    http.closeAllConnections();
    await new Promise<void>((resolve) => http.close(() => resolve()));
  });
  return { address: `127.0.0.1:${link.port}`, link, state };
}

function impatientPool(): NodePool {
  const pool = new NodePool({ requestTimeoutMs: 500 });
  cleanups.push(() => pool.close());
  return pool;
}

const stat = (pool: NodePool, address: string, name: string) =>
  pool.use(address, async (peer) => expectFrame(await peer.request('file.stat', { name }), 'file.info').body.file.name);

describe('NodePool', () => {
  it('fails every request waiting on a node together once one times out (the node froze), and holds the node unresponsive', async () => {
    const node = await nodeBehindLink();
    const pool = impatientPool();
    expect(await stat(pool, node.address, 'before')).toBe('before');
    expect(pool.isUnresponsive(node.address)).toBe(false);

    node.link.freeze();
    const first = codeOf(stat(pool, node.address, 'first'));
    await sleep(300);
    // On its own this one would time out 300 ms after the first: it fails with it, its connection ended.
    const second = codeOf(stat(pool, node.address, 'second'));

    expect(await first).toBe('E_TIMEOUT');
    expect(await Promise.race([second, sleep(200).then(() => 'still waiting')])).toBe('E_UNAVAILABLE');
    expect(pool.isUnresponsive(node.address)).toBe(true);
  });

  it('holds a node unresponsive until a request to it is served, on a new connection', async () => {
    const node = await nodeBehindLink();
    const pool = impatientPool();
    node.state.hanging = true;
    expect(await codeOf(stat(pool, node.address, 'lost'))).toBe('E_TIMEOUT');
    expect(pool.isUnresponsive(node.address)).toBe(true);

    node.state.hanging = false;
    expect(await stat(pool, node.address, 'back')).toBe('back');
    expect(pool.isUnresponsive(node.address)).toBe(false);
  });

  it('holds a node it cannot connect to unresponsive', async () => {
    const node = await nodeBehindLink();
    await node.link.close();
    const pool = impatientPool();

    expect(await codeOf(stat(pool, node.address, 'nobody'))).toBe('E_UNAVAILABLE');
    expect(pool.isUnresponsive(node.address)).toBe(true);
  });
});
