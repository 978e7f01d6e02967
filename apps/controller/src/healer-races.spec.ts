import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { CairnError, type Body, type ControlType, type Frame } from '@cairn/protocol';
import { openSqliteCatalog, type CatalogStore } from '@cairn/registry';
import type { Reply, RpcPeer } from '@cairn/transfer';
import { Cluster } from './cluster';
import { createRequestHandler } from './handlers';
import { Healer } from './healer';
import type { AccessControl } from './security/access-control';
import { GrantSigner } from './security/grant-signer';
import { MemoryNode } from './testing/memory-node';

/**
 * Deletions racing re-use of the same chunk, each interleaving forced by holding a node's deletion
 * back while a client puts the same content through the real request handlers. After each, every
 * replica row the catalog has must name a copy on that node's disk, and every committed file must
 * keep its replicas listed.
 */

/** The GC grace period, also the age under which nodes keep a copy: short, so tests wait little. */
const GRACE = 25;
const NODES = ['n1', 'n2', 'n3', 'n4'];
const log = pino({ level: 'silent' });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const sha256 = (data: string) => createHash('sha256').update(data).digest('hex');

function answer<T extends ControlType>(reply: Reply, type: T): Body<T> {
  if (reply.type !== type) throw new Error(`expected ${type}, got ${reply.type}`);
  return (reply as unknown as { body: Body<T> }).body;
}

describe('healer: deletion never races re-use of a chunk', () => {
  let dir: string;
  let catalog: CatalogStore;
  let cluster: Cluster;
  let healer: Healer;
  let nodes: Map<string, MemoryNode>;
  let handle: ReturnType<typeof createRequestHandler>;
  const client = {} as RpcPeer;
  const hashesSeen = new Set<string>();

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-healer-races-'));
    catalog = await openSqliteCatalog({ path: join(dir, 'catalog.db') });
    cluster = await Cluster.load(catalog, 60_000);
    nodes = new Map(NODES.map((id) => [id, new MemoryNode(id)]));
    const nodeOf = new Map([...nodes.values()].map((n) => [n.peer, n.id]));
    const grants = new GrantSigner(generateKeyPairSync('ed25519').privateKey);
    healer = new Healer({ catalog, cluster, log, gcGraceMs: GRACE, grants, repairConcurrency: 1, repairBytesPerSecond: 0, intervalMs: 60_000 });
    const access = { authorize: () => undefined, verifyNode: () => undefined, verifyReceipts: () => undefined, nodeOf: (peer: RpcPeer) => nodeOf.get(peer) };
    handle = createRequestHandler(
      { catalog, cluster, healer, access: access as unknown as AccessControl, grants, defaultReplicas: 2, heartbeatMs: 1_000, log },
      () => 'test',
    );
    for (const id of NODES) await register(id);
    hashesSeen.clear();
  });

  afterEach(async () => {
    await catalog.close();
    await rm(dir, { recursive: true, force: true });
  });

  const node = (id: string) => nodes.get(id) as MemoryNode;

  const request = <T extends ControlType>(type: T, body: Body<T>, from: RpcPeer = client) =>
    handle({ type, requestId: 1, body } as Frame, from);

  /** As apps/node does: registers (which opens its chunk report), then reports its disk. */
  async function register(id: string, used = 0): Promise<void> {
    await registerOnly(id, used);
    await request('node.report', { hashes: node(id).list(), first: true, done: true }, node(id).peer);
  }

  /** `used` bytes of its capacity of 1 000: 999 leaves no room for a test's chunk. */
  async function registerOnly(id: string, used: number): Promise<void> {
    const body = { nodeId: id, address: `127.0.0.1:${7701 + NODES.indexOf(id)}`, zone: null, capacity: 1_000, used, chunks: 0, proof: 'p' };
    await request('node.register', body, node(id).peer);
  }

  /** A committed file of one chunk on exactly `on`, written there (as an earlier put left it). */
  async function committed(name: string, content: string, on: string[]): Promise<string> {
    const hash = sha256(content);
    hashesSeen.add(hash);
    for (const id of on) node(id).put(hash);
    await catalog.beginUpload({ id: `setup-${name}`, name, replicas: 2, createdAt: Date.now() });
    const chunks = [{ index: 0, hash, size: content.length, nodes: on }];
    await catalog.commitUpload(`setup-${name}`, { size: content.length, sha256: hash, chunkCount: 1, now: Date.now(), chunks });
    return hash;
  }

  /** A chunk a removed file left on `on`, past its grace period once the healer's first pass ran. */
  async function garbage(content: string, on: string[]): Promise<string> {
    const hash = await committed(`old-${content}`, content, on);
    await catalog.removeFile(`old-${content}`);
    await catalog.collectGarbage({ now: Date.now(), graceMs: GRACE, limit: 10 }); // starts the clock
    await sleep(GRACE + 5);
    return hash;
  }

  /** A client's put of one chunk, through the handlers, stopping before the commit. */
  async function stored(name: string, content: string): Promise<() => Promise<void>> {
    const hash = sha256(content);
    hashesSeen.add(hash);
    const begun = answer(await request('upload.begin', { name, replicas: 2, chunks: [{ index: 0, hash, size: content.length }] }), 'upload.begun');
    const placement = begun.placements?.[0];
    if (!placement) throw new Error('no placement');
    for (const { id } of placement.nodes) {
      try {
        if (!placement.held?.includes(id)) throw new CairnError('E_NOT_FOUND', 'not held');
        node(id).claim(hash);
      } catch {
        node(id).put(hash); // not held, or gone: the client sends the bytes
      }
    }
    const chunks = [{ index: 0, hash, size: content.length, nodes: placement.nodes.map((n) => n.id), receipts: placement.nodes.map(() => 'receipt') }];
    return async () => {
      answer(await request('upload.commit', { uploadId: begun.uploadId, size: content.length, sha256: hash, chunkCount: 1, chunks }), 'file.info');
    };
  }

  /**
   * Runs a client's `flow` from inside a held-back deletion until it finishes, or until one of its
   * placements waits for deletions under way (then the deletion must go on for the rest to run).
   */
  async function interleave(flow: () => Promise<void>): Promise<{ rest: Promise<void> }> {
    let waiting!: () => void;
    const placementWaits = new Promise<void>((resolve) => (waiting = resolve));
    const settled = healer.deletionsSettled;
    healer.deletionsSettled = (hashes) => {
      waiting();
      return settled.call(healer, hashes);
    };
    const rest = flow();
    rest.catch(() => undefined); // awaited by the test
    await Promise.race([rest, placementWaits]);
    return { rest };
  }

  async function expectCatalogMatchesDisks(): Promise<void> {
    for (const hash of hashesSeen) {
      for (const id of await catalog.chunkReplicas(hash)) {
        expect({ hash, node: id, onDisk: nodes.get(id)?.has(hash) }).toEqual({ hash, node: id, onDisk: true });
      }
    }
    for (const file of await catalog.listFiles('', undefined, 100)) {
      for (const chunk of await catalog.fileChunks(file.id, 0, 100)) {
        const copies = chunk.nodes.filter((id) => nodes.get(id)?.has(chunk.hash));
        expect({ file: file.name, listedCopies: copies.length >= file.replicas }).toEqual({ file: file.name, listedCopies: true });
      }
    }
  }

  it('race 1: a surplus copy a put was just told to claim is not deleted under it', async () => {
    // Two surplus chunks; the one whose hash sorts first is trimmed first, and its deletion held.
    const [first, second] = ['surplus-a', 'surplus-b'].map((c) => [c, sha256(c)]).sort((a, b) => (a[1] < b[1] ? -1 : 1));
    const y = await committed('y', first[0], ['n1', 'n2']);
    const x = await committed('x', second[0], ['n1', 'n2']);
    for (const hash of [x, y]) {
      node('n3').put(hash); // repaired onto n3 while n1 was down; n1 came back
      await catalog.addReplica(hash, 'n3');
    }
    await register('n1', 900); // the most used node: trimmed first
    let commitB: (() => Promise<void>) | undefined;
    node('n1').beforeDelete = async (hashes) => {
      if (hashes[0] !== y || commitB) return;
      // Meanwhile a put of x's content is placed on its holders and claims the copies there.
      commitB = await stored('b', second[0]);
    };
    await healer.pass();
    expect(commitB).toBeDefined();
    await commitB?.();
    await expectCatalogMatchesDisks();
    expect(await catalog.chunkReplicas(x)).toContain('n1');
  });

  it('race 2: a report page listing a chunk GC deleted meanwhile does not bring its row back', async () => {
    const x = await garbage('listed', ['n1', 'n2']);
    const n1 = node('n1');
    // n1 and n2 re-register full; n1's report begins, its listing (x included) not sent yet.
    await register('n2', 999);
    await registerOnly('n1', 999);
    const page = n1.list();
    await healer.pass(); // GC deletes x on n1 and n2
    expect(n1.has(x)).toBe(false);
    // A put of the same content goes to n3 and n4 (n1 and n2 are full).
    await (await stored('again', 'listed'))();
    await request('node.report', { hashes: page, first: true, done: true }, n1.peer);
    await expectCatalogMatchesDisks();
  });

  it('race 4: a put claiming garbage while GC works through its nodes keeps its copies', async () => {
    await garbage('reused', ['n1', 'n2']);
    await register('n3', 999); // full: a fresh copy can only go to n1, where GC is deleting x
    await register('n4', 999);
    let put: { rest: Promise<void> } | undefined;
    const n1 = node('n1');
    n1.beforeDelete = async () => {
      n1.beforeDelete = undefined;
      // The put claims x on its holders, then commits long enough afterwards that the claims
      // no longer make the copies young when GC's deletions reach the nodes.
      put = await interleave(async () => {
        const commit = await stored('b', 'reused');
        await sleep(GRACE + 5);
        await commit();
      });
    };
    await healer.pass();
    expect(put).toBeDefined();
    await put?.rest;
    await expectCatalogMatchesDisks();
  });

  it('race 3: a put re-sending a chunk GC just deleted keeps it listed', async () => {
    await garbage('resent', ['n1', 'n2']);
    const n1 = node('n1');
    let put: { rest: Promise<void> } | undefined;
    n1.beforeAnswer = async () => {
      n1.beforeAnswer = undefined;
      // n1 has deleted x; its answer is held while a put of x finds n1's copy gone, sends it
      // again, and commits.
      put = await interleave(async () => (await stored('b', 'resent'))());
    };
    await healer.pass();
    expect(put).toBeDefined();
    await put?.rest;
    await expectCatalogMatchesDisks();
  });
});
