import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CairnError, FileInfo } from '@cairn/protocol';
import { NodePool, isUnresponsiveError } from './node-pool';
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

/** What `nodeBehindLink` does with a `file.stat` of this name; any other is answered at once. */
const STUCK = 'stuck'; // never answered: a read stuck on the node
const HELD = 'held'; // answered once `state.release()` is called
const NOT_JOINED = 'not-joined'; // answered with the node's own E_UNAVAILABLE

/**
 * A server that answers every `file.stat` at once, unless `hanging` (then it never answers), reached
 * through a link that can freeze; some names are answered otherwise (STUCK, HELD, NOT_JOINED).
 */
async function nodeBehindLink() {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const state = { hanging: false, release };
  const http = createServer();
  const rpc = attachRpcServer(http, {
    onRequest: async (frame) => {
      if (frame.type !== 'file.stat') throw new CairnError('E_UNKNOWN_TYPE', frame.type);
      const { name } = frame.body;
      if (state.hanging || name === STUCK) return new Promise<never>(() => undefined);
      if (name === HELD) await released;
      if (name === NOT_JOINED) throw new CairnError('E_UNAVAILABLE', 'not joined the cluster yet');
      return { type: 'file.info', body: { file: fileInfo(name) } };
    },
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const link = await startSlowLink((http.address() as AddressInfo).port, 1024 * 1024 * 1024);
  cleanups.push(async () => {
    state.release();
    await link.close();
    await rpc.close();
    http.closeAllConnections();
    await new Promise<void>((resolve) => http.close(() => resolve()));
  });
  return { address: `127.0.0.1:${link.port}`, link, state };
}

/** The pool's request timeout: long enough that a loaded machine never makes a healthy node miss it. */
const TIMEOUT_MS = 2_000;
/** A test's own limit: a few request timeouts. */
const TEST_MS = 20_000;

function impatientPool(): NodePool {
  const pool = new NodePool({ requestTimeoutMs: TIMEOUT_MS });
  cleanups.push(() => pool.close());
  return pool;
}

/** `file.stat` of `name` through the pool; `timeoutMs` overrides the pool's request timeout. */
const stat = (pool: NodePool, address: string, name: string, timeoutMs?: number) =>
  pool.use(address, async (peer) => expectFrame(await peer.request('file.stat', { name }, { timeoutMs }), 'file.info').body.file.name);

describe('NodePool', () => {
  it('fails every request waiting on a node together once one times out on a connection gone quiet (the node froze), and holds the node unresponsive', async () => {
    const node = await nodeBehindLink();
    const pool = impatientPool();
    expect(await stat(pool, node.address, 'before')).toBe('before');
    expect(pool.isUnresponsive(node.address)).toBe(false);

    node.link.freeze();
    const first = codeOf(stat(pool, node.address, 'first'));
    // Sent right after the first, with a timeout of its own it would wait out for a minute: only the
    // connection ended with the first's timeout fails it now (else the test runs out of time).
    const second = codeOf(stat(pool, node.address, 'second', 60_000));

    expect(await first).toBe('E_TIMEOUT');
    expect(await second).toBe('E_UNAVAILABLE');
    expect(pool.isUnresponsive(node.address)).toBe(true);
  }, TEST_MS);

  it('keeps a connection that goes on answering when one request on it times out: the others on it go on', async () => {
    const node = await nodeBehindLink();
    const pool = impatientPool();
    const connection = await pool.peer(node.address);
    const stuck = codeOf(stat(pool, node.address, STUCK));
    const held = codeOf(stat(pool, node.address, HELD, 60_000));
    // Answers to requests sent after the stuck one, until it has timed out: the connection is not quiet.
    let timedOut = false;
    void stuck.then(() => (timedOut = true));
    let answered = 0;
    while (!timedOut) {
      expect(await stat(pool, node.address, 'busy')).toBe('busy');
      answered++;
      await sleep(20);
    }

    expect(await stuck).toBe('E_TIMEOUT');
    expect(answered).toBeGreaterThan(0);
    expect(await pool.peer(node.address)).toBe(connection);
    expect(connection.isOpen).toBe(true);
    node.state.release();
    expect(await held).toBe('resolved');
  }, TEST_MS);

  it('holds a node unresponsive until a request to it is served, on a new connection', async () => {
    const node = await nodeBehindLink();
    const pool = impatientPool();
    node.state.hanging = true;
    const first = await pool.peer(node.address);
    expect(await codeOf(stat(pool, node.address, 'lost'))).toBe('E_TIMEOUT');
    expect(pool.isUnresponsive(node.address)).toBe(true);

    node.state.hanging = false;
    expect(await stat(pool, node.address, 'back')).toBe('back');
    expect(pool.isUnresponsive(node.address)).toBe(false);
    expect(await pool.peer(node.address)).not.toBe(first);
  }, TEST_MS);

  it('holds a node it cannot connect to unresponsive', async () => {
    const node = await nodeBehindLink();
    await node.link.close();
    const pool = impatientPool();

    expect(await codeOf(stat(pool, node.address, 'nobody'))).toBe('E_UNAVAILABLE');
    expect(pool.isUnresponsive(node.address)).toBe(true);
  });

  it('does not hold a node unresponsive for an E_UNAVAILABLE it answered itself (not joined yet), nor end its connection', async () => {
    const node = await nodeBehindLink();
    const pool = impatientPool();
    const connection = await pool.peer(node.address);

    const err = await stat(pool, node.address, NOT_JOINED).catch((e: unknown) => e);

    expect(err).toMatchObject({ code: 'E_UNAVAILABLE', message: 'not joined the cluster yet' });
    expect(isUnresponsiveError(err)).toBe(false);
    expect(pool.isUnresponsive(node.address)).toBe(false);
    expect(connection.isOpen).toBe(true);
  });
});
