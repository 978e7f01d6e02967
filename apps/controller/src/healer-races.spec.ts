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
import { Healer, MAX_CHECKS_PER_NODE } from './healer';
import type { AccessControl } from './security/access-control';
import { GrantSigner } from './security/grant-signer';
import { MemoryNode } from './testing/memory-node';
import { answer } from './testing/reply-body';

/**
 * Deletions racing re-use of the same chunk, each interleaving forced by holding a node's deletion
 * back while a client puts the same content through the real request handlers. After each, every
 * replica row the catalog has must name a copy on that node's disk, and every committed file must
 * keep its replicas listed. Also here, on the same harness: many reports of one bad copy at once, and
 * requests over a node's replaced connection, or from a second node with its id.
 */

/** The GC grace period, also the age under which nodes keep a copy: short, so tests wait little. */
const GRACE = 25;
/** How long the healer waits for a node's answer to a deletion before it closes the link. */
const DELETE_ANSWER_MS = 60_000;
const NODES = ['n1', 'n2', 'n3', 'n4'];
const log = pino({ level: 'silent' });
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const sha256 = (data: string) => createHash('sha256').update(data).digest('hex');

describe('healer: deletion never races re-use of a chunk', () => {
  let dir: string;
  let catalog: CatalogStore;
  let cluster: Cluster;
  let healer: Healer;
  let nodes: Map<string, MemoryNode>;
  let handle: ReturnType<typeof createRequestHandler>;
  const client = { closed: new Promise<never>(() => undefined) } as unknown as RpcPeer;
  const hashesSeen = new Set<string>();

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-healer-races-'));
    catalog = await openSqliteCatalog({ path: join(dir, 'catalog.db') });
    cluster = await Cluster.load(catalog, 60_000);
    nodes = new Map(NODES.map((id) => [id, new MemoryNode(id)]));
    const grants = new GrantSigner(generateKeyPairSync('ed25519').privateKey);
    const healerOptions = { catalog, cluster, log, gcGraceMs: GRACE, grants, repairConcurrency: 1, repairBytesPerSecond: 0, intervalMs: 60_000 };
    healer = new Healer({ ...healerOptions, deleteAnswerMs: DELETE_ANSWER_MS });
    handle = createRequestHandler(
      { catalog, cluster, healer, access: handlerAccess(), grants, defaultReplicas: 2, heartbeatMs: 1_000, log },
      () => 'test',
    );
    for (const id of NODES) await register(id);
    hashesSeen.clear();
  });

  afterEach(async () => {
    jest.restoreAllMocks();
    await catalog.close();
    await rm(dir, { recursive: true, force: true });
  });

  const node = (id: string) => nodes.get(id) as MemoryNode;

  function handlerAccess(): AccessControl {
    const nodeOf = (peer: RpcPeer) => [...nodes.values()].find((n) => n.owns(peer))?.id;
    const access = { authorize: () => undefined, requireStillAuthorized: () => undefined, verifyNode: () => undefined, verifyReceipts: () => undefined, nodeOf };
    return access as unknown as AccessControl;
  }

  const request = <T extends ControlType>(type: T, body: Body<T>, from: RpcPeer = client) =>
    handle({ type, requestId: 1, body } as Frame, from);

  /**
   * As apps/node does: connects, registers (which opens its chunk report), then reports its disk once
   * the deletions it was asked for before have finished.
   */
  async function register(id: string, used = 0, capacity = 1_000): Promise<void> {
    await registerOnly(id, used, capacity);
    await report(id);
  }

  async function report(id: string): Promise<void> {
    await node(id).deletionsFinished();
    await request('node.report', { hashes: node(id).list(), first: true, done: true }, node(id).peer);
  }

  /** `used` bytes of its capacity of 1 000: 999 leaves no room for a test's chunk. */
  async function registerOnly(id: string, used: number, capacity = 1_000): Promise<void> {
    const body = { nodeId: id, address: `127.0.0.1:${7701 + NODES.indexOf(id)}`, zone: null, capacity, used, chunks: 0, proof: 'p' };
    await request('node.register', body, node(id).connect());
  }

  /** A heartbeat with `used` bytes: the node's room changes, its link does not. */
  async function setUsed(id: string, used: number): Promise<void> {
    await request('node.heartbeat', { capacity: 1_000, used, chunks: 0 }, node(id).peer);
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
  async function stored(name: string, content: string, replicas = 2): Promise<() => Promise<void>> {
    const hash = sha256(content);
    hashesSeen.add(hash);
    const begun = answer(await request('upload.begin', { name, replicas, chunks: [{ index: 0, hash, size: content.length }] }), 'upload.begun');
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
    healer.deletionsSettled = (hash, on, ms) => {
      waiting();
      return settled.call(healer, hash, on, ms);
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
      // A trim of x reaches n1 only once the claim is older than the grace: only the hold saves x.
      if (hashes[0] === x) await sleep(GRACE + 10);
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
    // The healer sends no deletion to a node still reporting; the catalog must hold even if one came
    // (one sent just before the registration, say): n1 is let count as reported here.
    cluster.markReported('n1', n1.peer);
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
    // GC reaches n2 only once n2's claim is older than the grace: only the put's hold can save it.
    node('n2').beforeDelete = () => sleep(GRACE + 10);
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
  it('race 5: a placement right after a deletion unlisted its chunk still leaves that node out', async () => {
    await garbage('marked', ['n1', 'n2']);
    jest.spyOn(Math, 'random').mockReturnValue(0); // placement would pick n1 first
    const unlistGarbage = catalog.unlistGarbage.bind(catalog);
    let put: Promise<void> | undefined;
    jest.spyOn(catalog, 'unlistGarbage').mockImplementation(async (args) => {
      const unlisted = await unlistGarbage(args);
      // Unlisted, not yet asked: a put of x placed now must not be handed this node.
      if (args.nodeId === 'n1') put ??= stored('b', 'marked').then((commit) => commit());
      await put;
      return unlisted;
    });
    node('n1').beforeDelete = () => sleep(GRACE + 10); // the put's copy is old when the deletion arrives
    await healer.pass();
    await put;
    await expectCatalogMatchesDisks();
  });

  describe('prepared uploads, whose chunks reach the nodes before anything holds them', () => {
    /** Room for a prepared upload's chunk (up to 4 MiB) on n1 and n2 only: its placement is theirs. */
    async function preparedOnN1N2() {
      for (const id of NODES) await register(id, id === 'n1' || id === 'n2' ? 0 : 2 ** 30, 2 ** 30);
      // Usable longer than the grace here, so that only the guard under test keeps the copies.
      jest.spyOn(healer, 'preparedUsableMs', 'get').mockReturnValue(60_000);
      const { uploads } = answer(await request('upload.prepare', { count: 1, replicas: 2 }), 'upload.prepared');
      const on = uploads[0].nodes.map((n) => n.id);
      expect(on.sort()).toEqual(['n1', 'n2']);
      return { uploadId: uploads[0].uploadId, on };
    }
    const commitOf = (uploadId: string, name: string, content: string, on: string[]) => {
      const hash = sha256(content);
      const chunks = [{ index: 0, hash, size: content.length, nodes: on, receipts: on.map(() => 'receipt') }];
      return request('upload.commit', { uploadId, name, size: content.length, sha256: hash, chunkCount: 1, chunks });
    };

    it('race 6: GC does not delete the chunk of a prepared upload while its commit runs', async () => {
      const x = await garbage('prepared-commit', ['n1', 'n2']);
      const { uploadId, on } = await preparedOnN1N2();
      for (const id of on) node(id).put(x); // the client's put: the copies are young again
      const commitUpload = catalog.commitUpload.bind(catalog);
      jest.spyOn(catalog, 'commitUpload').mockImplementationOnce(async (id, commit) => {
        await sleep(GRACE + 10); // old again when GC reaches them: only the commit's guard keeps them
        await healer.pass();
        return commitUpload(id, commit);
      });
      answer(await commitOf(uploadId, 'p', 'prepared-commit', on), 'file.info');
      expect([node('n1').has(x), node('n2').has(x)]).toEqual([true, true]);
      await expectCatalogMatchesDisks();
    });

    it('race 7: the commit of a prepared upload is refused while a node it names is deleting its chunk', async () => {
      const x = await garbage('prepared-deleting', ['n1', 'n2']);
      const { uploadId, on } = await preparedOnN1N2();
      let refusal: string | undefined;
      node('n1').beforeDelete = async () => {
        node('n1').beforeDelete = undefined;
        // x is unlisted on n1 and its deletion is about to run there: the put, then its commit.
        for (const id of on) node(id).put(x);
        refusal = await commitOf(uploadId, 'p', 'prepared-deleting', on).then(
          () => 'committed',
          (err: CairnError) => err.code,
        );
      };
      await healer.pass();
      expect(refusal).toBe('E_UPLOAD_INVALID');
      expect(await catalog.getFile('p')).toBeUndefined();
      await expectCatalogMatchesDisks();
    });

    it('race 8: the commit of a prepared upload is refused once a node it names has registered again', async () => {
      // A put of a chunk the node already had only refreshed its age, not fsynced: a restart may have
      // lost that, and GC may since have deleted the copy as old.
      const { uploadId, on } = await preparedOnN1N2();
      for (const id of on) node(id).put(sha256('re-registered'));
      await register('n2', 0, 2 ** 30);
      await expect(commitOf(uploadId, 'p', 're-registered', on)).rejects.toMatchObject({ code: 'E_UPLOAD_INVALID' });
      expect(await catalog.getFile('p')).toBeUndefined();
      // The copies the refused commit proved are not left unknown (a node lists its chunks only when it
      // registers): checked on their nodes, listed, then collected as garbage like any other.
      await healer.pass();
      expect((await catalog.chunkReplicas(sha256('re-registered'))).sort()).toEqual(['n1', 'n2']);
      await expectCatalogMatchesDisks();
    });

    it('lists the copies of a prepared commit refused as too late, so that GC can collect them', async () => {
      const { uploadId, on } = await preparedOnN1N2();
      jest.spyOn(healer, 'preparedUsableMs', 'get').mockReturnValue(0);
      for (const id of on) node(id).put(sha256('too-late'));
      await expect(commitOf(uploadId, 'p', 'too-late', on)).rejects.toMatchObject({ code: 'E_UPLOAD_INVALID' });
      await healer.pass();
      expect((await catalog.chunkReplicas(sha256('too-late'))).sort()).toEqual(['n1', 'n2']);
      await expectCatalogMatchesDisks();
    });

    it('keeps at most 128 prepared uploads open per connection, and aborts those too old at its next prepare', async () => {
      const { uploadId } = await preparedOnN1N2(); // 1 open
      // Three at once: the first two fit (1 + 64 + 63), the third does not, however they interleave.
      const results = await Promise.allSettled([64, 63, 1].map((count) => request('upload.prepare', { count, replicas: 2 })));
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected']);
      await expect(request('upload.prepare', { count: 1, replicas: 2 })).rejects.toMatchObject({ code: 'E_UPLOAD_INVALID' });
      jest.spyOn(healer, 'preparedUsableMs', 'get').mockReturnValue(0); // every one of them is too old now
      const { uploads } = answer(await request('upload.prepare', { count: 1, replicas: 2 }), 'upload.prepared');
      expect(uploads).toHaveLength(1);
      await sleep(20); // the abort is not waited for
      expect(await catalog.getUpload(uploadId)).toBeUndefined();
      await expect(commitOf(uploadId, 'p', 'too-old', ['n1', 'n2'])).rejects.toMatchObject({ code: 'E_UPLOAD_INVALID' });
    });

    it('is usable only by the connection that prepared it, and only as long as the grace period allows', async () => {
      const { uploadId, on } = await preparedOnN1N2();
      const other = { closed: new Promise<never>(() => undefined) } as unknown as RpcPeer;
      const chunks = [{ index: 0, hash: sha256('c'), size: 1, nodes: on, receipts: on.map(() => 'receipt') }];
      const body = { uploadId, name: 'p', size: 1, sha256: sha256('c'), chunkCount: 1, chunks };
      await expect(request('upload.commit', body, other)).rejects.toMatchObject({ code: 'E_UPLOAD_INVALID' });
      await expect(request('upload.abort', { uploadId }, other)).rejects.toMatchObject({ code: 'E_UPLOAD_INVALID' });
      jest.spyOn(healer, 'preparedUsableMs', 'get').mockReturnValue(GRACE);
      await sleep(GRACE + 5);
      await expect(request('upload.commit', body)).rejects.toMatchObject({ code: 'E_UPLOAD_INVALID' });
      expect(await catalog.getUpload(uploadId)).toBeDefined(); // still the client's to abort
      answer(await request('upload.abort', { uploadId }), 'ack');
      expect(await catalog.getUpload(uploadId)).toBeUndefined();
    });
  });

  describe('a copy is listed again only when seen there', () => {
    it('a kept copy quarantined before the answer arrives stays unlisted', async () => {
      const x = await garbage('q', ['n1', 'n2']);
      const n1 = node('n1');
      n1.put(x); // young again on n1 (an upload wrote it, then aborted): n1 keeps it
      n1.beforeAnswer = async (hashes) => {
        if (!hashes.includes(x)) return;
        n1.beforeAnswer = undefined;
        // A reader hit rot in n1's copy: the node quarantines it and tells the controller.
        n1.quarantine(x);
        await request('chunk.quarantined', { hash: x, reason: 'rot' }, n1.peer);
      };
      await healer.pass();
      await healer.pass();
      await expectCatalogMatchesDisks();
    });

    it('a kept copy is listed again once a check finds it there', async () => {
      const x = await garbage('kept', ['n1', 'n2']);
      node('n1').put(x); // young again: kept
      await healer.pass();
      expect(await catalog.chunkReplicas(x)).toEqual([]);
      await healer.pass();
      expect(await catalog.chunkReplicas(x)).toEqual(['n1']);
      await expectCatalogMatchesDisks();
    });

    it('a copy quarantined while its check answers is not listed (removal before the row)', async () => {
      const x = await garbage('check-then-rot', ['n1', 'n2']);
      const n1 = node('n1');
      n1.put(x);
      await healer.pass(); // n1 kept x
      n1.beforeCheckAnswer = async (hash) => {
        n1.beforeCheckAnswer = undefined;
        n1.quarantine(hash); // the check's "ok" is on its way when a reader finds rot
        await request('chunk.quarantined', { hash, reason: 'rot' }, n1.peer);
      };
      await healer.pass();
      await expectCatalogMatchesDisks();
    });

    it('a copy quarantined while its row goes back in is not listed (removal during the insert)', async () => {
      const x = await garbage('insert-then-rot', ['n1', 'n2']);
      const n1 = node('n1');
      n1.put(x);
      await healer.pass(); // n1 kept x
      const addReplica = catalog.addReplica.bind(catalog);
      jest.spyOn(catalog, 'addReplica').mockImplementationOnce(async (hash, id) => {
        n1.quarantine(hash); // its removal is handled before the insert lands
        await request('chunk.quarantined', { hash, reason: 'rot' }, n1.peer);
        await addReplica(hash, id);
      });
      await healer.pass();
      await expectCatalogMatchesDisks();
    });

    it('a deletion that fails leaves no copy unlisted: it is listed again, then trimmed', async () => {
      const [first, second] = ['fail-a', 'fail-b'].map((c) => [c, sha256(c)]).sort((a, b) => (a[1] < b[1] ? -1 : 1));
      const x = await committed('x', first[0], ['n1', 'n2', 'n3']); // one surplus copy
      await committed('y', second[0], ['n2', 'n3']);
      await setUsed('n1', 900); // the most used: trimmed first
      const n1 = node('n1');
      n1.age(x, 60_000); // old enough to go
      n1.beforeReclaim = async () => {
        n1.beforeReclaim = undefined;
        throw new CairnError('E_DISK', 'the disk failed'); // the node answers with an error
      };
      await healer.pass();
      expect({ listed: (await catalog.chunkReplicas(x)).includes('n1'), onDisk: n1.has(x) }).toEqual({ listed: false, onDisk: true });
      await healer.pass(); // listed again once checked, then trimmed
      expect({ listed: (await catalog.chunkReplicas(x)).includes('n1'), onDisk: n1.has(x) }).toEqual({ listed: false, onDisk: false });
      await expectCatalogMatchesDisks();
    });
  });

  describe('a deletion with no answer', () => {
    it('keeps its chunk off that node until the node has reported over a new link, whatever the grace', async () => {
      healer = new Healer({ catalog, cluster, log, gcGraceMs: 0, grants: new GrantSigner(generateKeyPairSync('ed25519').privateKey), repairConcurrency: 1, repairBytesPerSecond: 0, intervalMs: 60_000, deleteAnswerMs: 20 });
      handle = createRequestHandler(
        { catalog, cluster, healer, access: handlerAccess(), grants: new GrantSigner(generateKeyPairSync('ed25519').privateKey), defaultReplicas: 2, heartbeatMs: 1_000, log },
        () => 'test',
      );
      const x = await garbage('stalled', ['n1', 'n2']);
      const n1 = node('n1');
      const oldLink = n1.peer;
      let resume!: () => void;
      const resumed = new Promise<void>((resolve) => (resume = resolve));
      n1.beforeDelete = () => resumed; // a stalled node: the request has not even started there
      await healer.pass();
      expect(oldLink.isOpen).toBe(false); // no answer in time: the controller closed the link
      expect([...healer.nodesDeleting(x)]).toEqual(['n1']);
      await catalog.beginNodeReport('n1'); // a report the old link was still sending ends: refused, it proves nothing
      await expect(request('node.report', { hashes: n1.list(), first: true, done: true }, oldLink)).rejects.toMatchObject({ code: 'E_AUTH' });
      expect([...healer.nodesDeleting(x)]).toEqual(['n1']);
      // Meanwhile a put of x is placed elsewhere; n1 wakes up and must delete nothing it put since.
      jest.spyOn(Math, 'random').mockReturnValue(0); // placement would pick n1 first
      const commit = await stored('b', 'stalled');
      await commit();
      resume();
      await registerOnly('n1', 0);
      await report('n1');
      expect([...healer.nodesDeleting(x)]).toEqual([]);
      await expectCatalogMatchesDisks();
    });
  });

  describe('liveness of deletions', () => {
    /** A healer (and handlers) whose deletions get no answer after 20 ms. */
    function impatientHealer(): void {
      const grants = new GrantSigner(generateKeyPairSync('ed25519').privateKey);
      healer = new Healer({ catalog, cluster, log, gcGraceMs: GRACE, grants, repairConcurrency: 1, repairBytesPerSecond: 0, intervalMs: 60_000, deleteAnswerMs: 20 });
      handle = createRequestHandler({ catalog, cluster, healer, access: handlerAccess(), grants, defaultReplicas: 2, heartbeatMs: 1_000, log }, () => 'test');
    }

    it('sends no deletion to a node that has not finished its report since it registered', async () => {
      const x = await garbage('reporting', ['n1', 'n2']);
      const n1 = node('n1');
      await registerOnly('n1', 0); // reconnected (its last batch ran too long, say): its report is under way
      const asked: string[][] = [];
      n1.beforeDelete = async (hashes) => void asked.push([...hashes]);
      await healer.pass();
      expect({ asked, onDisk: n1.has(x), listed: (await catalog.chunkReplicas(x)).includes('n1') }).toEqual({ asked: [], onDisk: true, listed: true });
      expect(node('n2').has(x)).toBe(false); // the reported node's copy went
      await report('n1');
      await healer.pass();
      expect({ asked, onDisk: n1.has(x) }).toEqual({ asked: [[x]], onDisk: false });
      await expectCatalogMatchesDisks();
    });

    it('sends no surplus trim to a node that re-registered while the pass was planning it', async () => {
      const x = await committed('x', 'trimmed', ['n1', 'n2', 'n3']); // one surplus copy
      await setUsed('n1', 900); // the most used: trimmed first
      node('n1').age(x, 60_000);
      const surplusChunks = catalog.surplusChunks.bind(catalog);
      jest.spyOn(catalog, 'surplusChunks').mockImplementationOnce(async (args) => {
        const chunks = await surplusChunks(args);
        await registerOnly('n1', 900); // n1 reconnects: its report is under way when its turn comes
        return chunks;
      });
      await healer.pass();
      expect({ onDisk: node('n1').has(x), deleting: [...healer.nodesDeleting(x)] }).toEqual({ onDisk: true, deleting: [] });
      await expectCatalogMatchesDisks();
    });

    it('unmarks at once the hashes of a batch the catalog refused to unlist, even with no answer', async () => {
      impatientHealer();
      const [x, y] = [await garbage('refused', ['n1', 'n2']), await garbage('unlisted', ['n1', 'n2'])];
      const unlistGarbage = catalog.unlistGarbage.bind(catalog);
      // A put took x up just before the unlisting: the catalog unlists only y.
      jest.spyOn(catalog, 'unlistGarbage').mockImplementation((args) => unlistGarbage({ ...args, hashes: args.hashes.filter((h) => h !== x) }));
      node('n1').beforeDelete = () => new Promise(() => undefined); // a stalled node: no answer
      await healer.pass();
      expect(node('n1').peer.isOpen).toBe(false);
      expect({ x: [...healer.nodesDeleting(x)], y: [...healer.nodesDeleting(y)] }).toEqual({ x: [], y: ['n1'] });
    });

    it('ends a batch whose link dropped while it was unlisting, even if the node has reported since', async () => {
      const x = await garbage('dropped', ['n1', 'n2']);
      const n1 = node('n1');
      const unlistGarbage = catalog.unlistGarbage.bind(catalog);
      jest.spyOn(catalog, 'unlistGarbage').mockImplementation(async (args) => {
        const unlisted = await unlistGarbage(args);
        if (args.nodeId === 'n1') {
          n1.peer.close(); // the link drops; n1 reconnects and reports quickly, x still on its disk
          await registerOnly('n1', 0);
          await report('n1');
        }
        return unlisted;
      });
      await healer.pass();
      expect({ deleting: [...healer.nodesDeleting(x)], onDisk: n1.has(x) }).toEqual({ deleting: [], onDisk: true });
      await expectCatalogMatchesDisks();
      jest.restoreAllMocks();
      await sleep(GRACE + 5);
      await healer.pass(); // checked, then collected on a later pass
      await healer.pass();
      expect(n1.has(x)).toBe(false);
      await expectCatalogMatchesDisks();
    });
  });

  describe('placement and deletions under way', () => {
    it('leaves out the nodes deleting a chunk instead of waiting for them', async () => {
      const x = await garbage('busy', ['n1', 'n2']);
      const n1 = node('n1');
      let resume!: () => void;
      const resumed = new Promise<void>((resolve) => (resume = resolve));
      let placed: string[] | undefined;
      n1.beforeDelete = async () => {
        n1.beforeDelete = undefined;
        jest.spyOn(Math, 'random').mockReturnValue(0); // placement would pick n1 first
        const begun = answer(await request('upload.begin', { name: 'b', replicas: 2, chunks: [{ index: 0, hash: x, size: 4 }] }), 'upload.begun');
        placed = begun.placements?.[0].nodes.map((n) => n.id);
        resume();
      };
      const pass = healer.pass();
      await resumed;
      expect(placed).toHaveLength(2);
      expect(placed).not.toContain('n1');
      await pass;
    });

    it('waits for them, a while, when they are the only nodes with room', async () => {
      await garbage('only', ['n1', 'n2']);
      await setUsed('n3', 999);
      await setUsed('n4', 999);
      const n1 = node('n1');
      let put: { rest: Promise<void> } | undefined;
      n1.beforeDelete = async () => {
        n1.beforeDelete = undefined;
        put = await interleave(async () => (await stored('b', 'only'))());
      };
      await healer.pass();
      expect(put).toBeDefined();
      await put?.rest;
      await expectCatalogMatchesDisks();
    });
  });

  describe('checks of a reported copy', () => {
    /** Holds `nodeId`'s answers to checks until released, counting the checks it is asked. */
    function holdChecks(nodeId: string): { checks: () => number; release: () => void } {
      let asked = 0;
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      node(nodeId).beforeCheckAnswer = async () => {
        asked++;
        await held;
      };
      return { checks: () => asked, release };
    }

    it('asks its node once at a time, however many readers report it, and drops the copy once the node finds it bad', async () => {
      const hash = await committed('hot', 'a hot chunk', ['n1', 'n2']);
      node('n1').quarantine(hash); // rotten: the node's check will not find it
      const held = holdChecks('n1');

      for (let i = 0; i < 5; i++) await request('chunk.bad', { hash, nodeId: 'n1', reason: 'E_CORRUPT' });
      // Each report has started its check, or joined one, before its ack: wait for the node to see one.
      for (let i = 0; i < 200 && held.checks() === 0; i++) await sleep(5);
      expect(held.checks()).toBe(1); // the other four joined the check under way
      held.release();
      for (let i = 0; i < 100 && (await catalog.chunkReplicas(hash)).includes('n1'); i++) await sleep(5);

      expect(await catalog.chunkReplicas(hash)).toEqual(['n2']);
      expect(held.checks()).toBe(1);
    });

    it(`asks a node at most ${MAX_CHECKS_PER_NODE} checks at once, however many copies are reported: the rest are let go`, async () => {
      const hashes: string[] = [];
      for (let i = 0; i < MAX_CHECKS_PER_NODE + 4; i++) hashes.push(await committed(`many-${i}`, `chunk ${i}`, ['n1', 'n2']));
      const held = holdChecks('n1');

      for (const hash of hashes) await request('chunk.bad', { hash, nodeId: 'n1', reason: 'E_CORRUPT' });
      for (let i = 0; i < 200 && held.checks() < MAX_CHECKS_PER_NODE; i++) await sleep(5);
      await sleep(50);
      expect(held.checks()).toBe(MAX_CHECKS_PER_NODE);
      // The healer's own check (a repair source in doubt) goes past the cap, for a copy whose report was let go.
      const own = healer.checkReplica(hashes[MAX_CHECKS_PER_NODE], 'n1', { capped: false });
      for (let i = 0; i < 200 && held.checks() === MAX_CHECKS_PER_NODE; i++) await sleep(5);
      expect(held.checks()).toBe(MAX_CHECKS_PER_NODE + 1);
      held.release();
      await own;
      for (let i = 0; i < 200 && (healer as unknown as { checking: Map<string, unknown> }).checking.size > 0; i++) await sleep(5);

      // Room again: a report now is checked.
      await request('chunk.bad', { hash: hashes[hashes.length - 1], nodeId: 'n1', reason: 'E_CORRUPT' });
      for (let i = 0; i < 200 && held.checks() === MAX_CHECKS_PER_NODE + 1; i++) await sleep(5);
      expect(held.checks()).toBe(MAX_CHECKS_PER_NODE + 2);
    });

    it('does not ask again about a copy its node found sound a moment ago (a flood of reports), but does once it is gone', async () => {
      const hash = await committed('sound', 'a sound chunk', ['n1', 'n2']);
      let checks = 0;
      node('n1').beforeCheckAnswer = async () => void checks++;
      for (let i = 0; i < 5; i++) await healer.checkReplica(hash, 'n1');
      expect(checks).toBe(1); // found sound by the first; the other four reports are not checked
      expect(await catalog.chunkReplicas(hash)).toEqual(['n1', 'n2']);

      node('n1').quarantine(hash); // it rots, and the node says so: its word drops the copy
      await healer.removeReplica(hash, 'n1');
      await catalog.addReplica(hash, 'n1'); // listed again (a repair put it back, say)
      await healer.checkReplica(hash, 'n1'); // checked at once: a removal forgets the copy was sound
      expect(checks).toBe(2);
    });

    it('repairs a copy found bad during a pass right after that pass, not a timer tick later', async () => {
      const hash = await committed('rotten', 'a rotten chunk', ['n1', 'n2']);
      node('n1').quarantine(hash);
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      const healerInternals = healer as unknown as { collectGarbage: () => Promise<void> };
      const collect = healerInternals.collectGarbage.bind(healer);
      let passes = 0;
      jest.spyOn(healerInternals, 'collectGarbage').mockImplementation(async () => {
        if (++passes === 1) await held; // the first pass is under way until released
        return collect();
      });
      const underReplicated = jest.spyOn(catalog, 'underReplicatedChunks');

      const first = healer.pass();
      for (let i = 0; i < 200 && passes === 0; i++) await sleep(5);
      await request('chunk.bad', { hash, nodeId: 'n1', reason: 'E_CORRUPT' });
      for (let i = 0; i < 200 && (await catalog.chunkReplicas(hash)).includes('n1'); i++) await sleep(5);
      expect(await catalog.chunkReplicas(hash)).toEqual(['n2']); // confirmed bad while the pass was under way
      const plannedBefore = underReplicated.mock.calls.length;
      release();
      await first; // and the pass asked for meanwhile, run right after it

      expect(passes).toBe(2);
      expect(underReplicated.mock.calls.length).toBeGreaterThan(plannedBefore); // planned again, with the copy gone
    });
  });

  describe("the timer's passes", () => {
    beforeEach(() => {
      for (const n of nodes.values()) n.network = nodes; // repair copies land
    });

    /** How many of three timer ticks planned (read the catalog for short chunks). */
    async function plansOfThreeTicks(): Promise<number> {
      const plans = jest.spyOn(catalog, 'underReplicatedChunks');
      const before = plans.mock.calls.length;
      for (let i = 0; i < 3; i++) await healer.tick();
      const planned = plans.mock.calls.length - before;
      plans.mockRestore();
      return planned;
    }

    it('plan once something changed, go on while there is work, and read nothing more while all is well', async () => {
      const hash = await committed('steady', 'a steady chunk', ['n1', 'n2']);
      await committed('other', 'another chunk', ['n2', 'n3']);
      expect(await plansOfThreeTicks()).toBe(1); // the first tick plans: nothing to do
      expect(await plansOfThreeTicks()).toBe(0);

      await healer.removeReplica(hash, 'n1'); // as a quarantine does
      expect(await plansOfThreeTicks()).toBe(2); // the repair, then a plan that finds it done
      expect((await catalog.chunkReplicas(hash)).length).toBe(2);
      expect(await plansOfThreeTicks()).toBe(0);

      await request('file.remove', { name: 'other' });
      expect(await plansOfThreeTicks()).toBe(1);

      await request('node.drain', { nodeId: 'n3', draining: true }); // the nodes look different
      expect(await plansOfThreeTicks()).toBeGreaterThanOrEqual(1);
      expect(await plansOfThreeTicks()).toBe(0);
    });

    it('repair a chunk behind a page full of lost ones', async () => {
      for (let i = 0; i < 256; i++) {
        const lost = await committed(`lost-${i}`, `lost chunk ${i}`, ['n3', 'n4']);
        for (const id of ['n3', 'n4']) await catalog.removeReplica(lost, id); // both copies found rotten, say
      }
      const hash = await committed('repairable', 'a repairable chunk', ['n1', 'n3']);
      await request('node.drain', { nodeId: 'n3', draining: true });
      await healer.pass();
      const replicas = await catalog.chunkReplicas(hash);
      expect(replicas.filter((id) => id === 'n2' || id === 'n4')).toHaveLength(1); // repaired, where there was room
      expect(replicas).toEqual(expect.arrayContaining(['n1', 'n3']));
    });

    it('count the short chunks no node has room for, say so once when repair starts and stops waiting, not per chunk', async () => {
      for (const name of ['a', 'b', 'c']) await committed(name, `a chunk waiting for room: ${name}`, ['n1', 'n2']);
      await setUsed('n3', 999);
      await setUsed('n4', 999);
      const warn = jest.spyOn(log, 'warn');
      const info = jest.spyOn(log, 'info');
      await request('node.drain', { nodeId: 'n1', draining: true });
      await healer.pass();
      await healer.pass();
      expect(healer.counters.waitingForRoom).toBe(3);
      const waiting = warn.mock.calls.filter(([, message]) => String(message).startsWith('cannot repair'));
      expect(waiting).toHaveLength(1);
      expect(waiting[0]).toEqual([{ chunks: 3 }, expect.stringMatching(/^cannot repair 3 chunks yet: .*; they wait for a node to take them/)]);

      await setUsed('n3', 0);
      await healer.pass();
      expect(healer.counters.waitingForRoom).toBe(0);
      expect(info.mock.calls.filter(([message]) => message === 'repair no longer waits for room')).toHaveLength(1);
      expect(answer(await request('cluster.status', {}), 'cluster.info')).toMatchObject({ underReplicated: 0, repair: { waitingForRoom: 0 } });
    });

    it('repair from draining nodes a chunk they alone hold', async () => {
      const hash = await committed('retiring', 'a chunk on two retiring nodes', ['n3', 'n4']);
      await request('node.drain', { nodeId: 'n3', draining: true });
      await request('node.drain', { nodeId: 'n4', draining: true });
      await healer.pass();
      expect(await catalog.chunkReplicas(hash)).toEqual(['n1', 'n2', 'n3', 'n4']);
      expect(node('n1').has(hash) && node('n2').has(hash)).toBe(true);
    });

    it('plan after a commit while a node is not healthy: a copy there does not count', async () => {
      const drain = (nodeId: string, draining: boolean) => request('node.drain', { nodeId, draining });
      await drain('n3', true);
      await drain('n4', true);
      const commit = await stored('new', 'a new chunk'); // on n1 and n2
      await drain('n3', false);
      await drain('n4', false);
      await drain('n1', true);
      expect(await plansOfThreeTicks()).toBe(1); // nothing committed is short yet

      await commit(); // no change of the nodes' view comes to say that its copy on n1 does not count
      expect(await plansOfThreeTicks()).toBe(2); // the repair, then a plan that finds it done
      const replicas = await catalog.chunkReplicas(sha256('a new chunk'));
      expect(replicas.filter((id) => id !== 'n1' && id !== 'n2')).toHaveLength(1); // a copy on n3 or n4

      await sleep(2);
      await (await stored('later', 'a later chunk'))(); // begun after the view changed: placed by it
      expect(await plansOfThreeTicks()).toBe(0); // n1 still draining, yet nothing to plan for
    });

    describe('work bigger than a page', () => {
      /** A healer whose plans and GC passes take 4 chunks each, and whose timer would tick once a minute. */
      const pagedHealer = (repairConcurrency: number) =>
        new Healer({
          catalog,
          cluster,
          log,
          gcGraceMs: GRACE,
          grants: new GrantSigner(generateKeyPairSync('ed25519').privateKey),
          repairConcurrency,
          repairBytesPerSecond: 0,
          intervalMs: 60_000,
          pageSize: 4,
        });
      let paged: Healer;
      afterEach(() => paged.stop());

      /** `count` committed chunks on n1 and n2 whose copy on n2 was found rotten, say. */
      async function shortChunks(count: number): Promise<string[]> {
        const hashes: string[] = [];
        for (let i = 0; i < count; i++) {
          const hash = await committed(`short-${i}`, `a short chunk ${i}`, ['n1', 'n2']);
          await catalog.removeReplica(hash, 'n2');
          hashes.push(hash);
        }
        return hashes;
      }

      /** Whether every chunk of `hashes` has two copies listed, not counting those on `draining`. */
      async function allRepaired(hashes: string[], draining?: string): Promise<boolean> {
        const replicas = await Promise.all(hashes.map((hash) => catalog.chunkReplicas(hash)));
        return replicas.every((ids) => ids.filter((id) => id !== draining).length === 2);
      }

      async function until(condition: () => Promise<boolean>): Promise<void> {
        for (let waited = 0; !(await condition()); waited += 5) {
          if (waited > 5_000) throw new Error('not within 5 s');
          await sleep(5);
        }
      }

      it('trims surplus copies page after page, at once', async () => {
        paged = pagedHealer(2);
        const hashes: string[] = [];
        for (let i = 0; i < 10; i++) hashes.push(await committed(`surplus-${i}`, `a surplus chunk ${i}`, ['n1', 'n2', 'n3']));
        await sleep(GRACE + 5); // old enough that the nodes let them go
        const plans = jest.spyOn(catalog, 'surplusChunks');
        await paged.tick();
        await until(async () => (await Promise.all(hashes.map((hash) => catalog.chunkReplicas(hash)))).every((replicas) => replicas.length === 2));
        expect(plans.mock.calls.length).toBeGreaterThanOrEqual(3);
        for (const hash of hashes) expect(NODES.filter((id) => node(id).has(hash))).toHaveLength(2);
      });

      it('collects garbage page after page, at once', async () => {
        paged = pagedHealer(2);
        const hashes: string[] = [];
        for (let i = 0; i < 10; i++) hashes.push(await garbage(`garbage ${i}`, ['n1', 'n2']));
        const pages = jest.spyOn(catalog, 'collectGarbage');
        await paged.tick();
        await until(async () => hashes.every((hash) => !node('n1').has(hash) && !node('n2').has(hash)));
        for (const hash of hashes) expect(await catalog.chunkReplicas(hash)).toEqual([]);
        // Nothing it could not delete: never the dearer query that reads past such garbage.
        expect(pages.mock.calls.filter(([args]) => args.deletableOn !== undefined)).toEqual([]);
      });

      it('collects garbage behind a page of older garbage left on nodes it cannot reach', async () => {
        paged = pagedHealer(2);
        for (let i = 0; i < 4; i++) await garbage(`stranded ${i}`, ['n3', 'n4']);
        const reachable = [await garbage('reachable 1', ['n1', 'n2']), await garbage('reachable 2', ['n1', 'n2'])];
        for (const id of ['n3', 'n4']) node(id).peer.close(); // their links drop: no deletion can be sent to them now
        const pages = jest.spyOn(catalog, 'collectGarbage');
        await paged.tick();
        await until(async () => reachable.every((hash) => !node('n1').has(hash) && !node('n2').has(hash)));
        expect(pages.mock.calls.map(([args]) => (args.deletableOn ? [...args.deletableOn].sort() : undefined))).toContainEqual(['n1', 'n2']);
      });

      it('goes on at once, page after page, while its copies succeed', async () => {
        paged = pagedHealer(2);
        const hashes = await shortChunks(10);
        const plans = jest.spyOn(catalog, 'underReplicatedChunks');
        await paged.tick();
        await until(() => allRepaired(hashes)); // long before the timer's next tick
        expect(plans.mock.calls.length).toBeGreaterThanOrEqual(3); // pages of 4, 4 and 2
      });

      it('waits for the timer when every copy fails', async () => {
        paged = pagedHealer(2);
        for (const n of nodes.values()) n.network = undefined; // a copy finds nothing to pull
        await shortChunks(10);
        const plans = jest.spyOn(catalog, 'underReplicatedChunks');
        await paged.tick();
        await sleep(50);
        expect(plans).toHaveBeenCalledTimes(1);
      });

      /**
       * Three short chunks, one copy at a time, and `during` done during the first copy: whether the
       * healer planned again before the second copy (not the whole first page of three). `draining`: a
       * node `during` drains, whose copy does not count.
       */
      async function plansAgainBeforeSecondCopy(during: () => unknown, draining?: string): Promise<boolean> {
        paged = pagedHealer(1);
        const hashes = await shortChunks(3);
        const plans = jest.spyOn(catalog, 'underReplicatedChunks');
        const addReplica = catalog.addReplica.bind(catalog);
        const copies = jest.spyOn(catalog, 'addReplica').mockImplementationOnce(async (hash, nodeId) => {
          await during();
          return addReplica(hash, nodeId);
        });
        await paged.tick();
        await until(() => allRepaired(hashes, draining));
        return plans.mock.invocationCallOrder[1] < copies.mock.invocationCallOrder[1];
      }

      it("plans again as soon as the nodes' view changes, leaving the rest of its page", async () => {
        // The first copy may have gone to n4.
        expect(await plansAgainBeforeSecondCopy(() => request('node.drain', { nodeId: 'n4', draining: true }), 'n4')).toBe(true);
      });

      it('plans again as soon as a copy is found bad, leaving the rest of its page', async () => {
        expect(await plansAgainBeforeSecondCopy(() => paged.requestPass())).toBe(true); // as a reader's report of a bad copy does
      });
    });
  });

  describe('a node and its connections', () => {
    it("takes a report page only from the node's current connection: a replaced one changes nothing", async () => {
      const f = await committed('f', 'kept-f', ['n1', 'n2']);
      const g = await committed('g', 'kept-g', ['n1', 'n2']);
      const stale = sha256('gone-from-n1');
      hashesSeen.add(stale);
      const n1 = node('n1');
      await registerOnly('n1', 0); // n1 reconnects over A and begins its report
      const a = n1.peer;
      await request('node.report', { hashes: [f], first: true, done: false }, a);
      await registerOnly('n1', 0); // n1 registers again over B: a fresh, empty report
      const b = n1.peer;

      // A's late pages: one listing a chunk n1 no longer has, then its last one.
      await expect(request('node.report', { hashes: [stale], first: false, done: false }, a)).rejects.toMatchObject({ code: 'E_AUTH' });
      await expect(request('node.report', { hashes: [g], first: false, done: true }, a)).rejects.toMatchObject({ code: 'E_AUTH' });
      expect({ f: await catalog.chunkReplicas(f), g: await catalog.chunkReplicas(g) }).toEqual({ f: ['n1', 'n2'], g: ['n1', 'n2'] });
      expect(cluster.hasReported('n1')).toBe(false);

      await request('node.report', { hashes: n1.list(), first: true, done: true }, b);
      expect(cluster.hasReported('n1')).toBe(true);
      expect({ f: await catalog.chunkReplicas(f), g: await catalog.chunkReplicas(g), stale: await catalog.chunkReplicas(stale) }).toEqual({
        f: ['n1', 'n2'],
        g: ['n1', 'n2'],
        stale: [],
      });
      await expectCatalogMatchesDisks();
    });

    it('takes no heartbeat or quarantined chunk from a replaced connection', async () => {
      const f = await committed('f', 'quarantined-late', ['n1', 'n2']);
      const n1 = node('n1');
      const a = n1.peer;
      await register('n1', 0); // over B
      await expect(request('node.heartbeat', { capacity: 1_000, used: 900, chunks: 0 }, a)).rejects.toMatchObject({ code: 'E_AUTH' });
      await expect(request('chunk.quarantined', { hash: f, reason: 'late' }, a)).rejects.toMatchObject({ code: 'E_AUTH' });
      expect(cluster.list().find((n) => n.id === 'n1')?.used).toBe(0);
      expect(await catalog.chunkReplicas(f)).toEqual(['n1', 'n2']);
      await request('node.heartbeat', { capacity: 1_000, used: 900, chunks: 0 }, n1.peer);
      expect(cluster.list().find((n) => n.id === 'n1')?.used).toBe(900);
    });

    describe('two nodes configured with one id', () => {
      /** A second process calling itself n1, advertising `address`, over a connection of its own. */
      async function impostor(address: string): Promise<Reply> {
        const body = { nodeId: 'n1', address, zone: null, capacity: 1_000, used: 0, chunks: 0, proof: 'p' };
        return request('node.register', body, new MemoryNode('n1').peer);
      }

      it('refuses the second while the first is connected and heard from, and the first keeps its place', async () => {
        const first = node('n1').peer;
        await expect(impostor('127.0.0.1:9999')).rejects.toMatchObject({ code: 'E_FORBIDDEN' });
        await expect(impostor('127.0.0.1:9999')).rejects.toMatchObject({ code: 'E_FORBIDDEN' }); // its retry too
        expect(first.isOpen).toBe(true);
        expect(cluster.ref('n1')?.address).toBe('127.0.0.1:7701');
        await request('node.heartbeat', { capacity: 1_000, used: 0, chunks: 0 }, first);
        expect(cluster.hasReported('n1')).toBe(true);
      });

      it('lets a node restarting at its address take over at once', async () => {
        const first = node('n1').peer;
        await register('n1', 0);
        expect(first.isOpen).toBe(false);
        expect(cluster.peer('n1')).toBe(node('n1').peer);
      });

      it('lets another address take the id once the first connection has closed', async () => {
        node('n1').peer.close();
        await impostor('127.0.0.1:9999');
        expect(cluster.ref('n1')?.address).toBe('127.0.0.1:9999');
      });

      it('lets another address take the id once the first, its connection open, is silent until deemed dead', async () => {
        const now = performance.now();
        jest.spyOn(performance, 'now').mockReturnValue(now + 61_000); // past --node-timeout (60 s here)
        await impostor('127.0.0.1:9999');
        expect(cluster.ref('n1')?.address).toBe('127.0.0.1:9999');
      });
    });
  });
});
