import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { open, readdir, readFile, rm } from 'node:fs/promises';
import { DEFAULT_CHUNK_SIZE } from '@cairn/protocol';
import { expectFrame } from '@cairn/transfer';
import { TestCluster, waitUntil } from './support/test-cluster';
import { rawPeer } from './support/raw';
import { sha256, sha256File, writeRandomFile } from './support/files';

/** Invariant 4 under real kill -9: the cluster heals by itself and never deletes what a file needs. */
describe('self-healing replication', () => {
  let cluster: TestCluster;
  const files = new Map<string, string>(); // name → sha256

  beforeAll(async () => {
    cluster = await TestCluster.start({ nodes: 4, replicas: 2, nodeTimeout: '2s', gcGrace: '2s' });
    const sizes = [0, 1, 100, 4096, 65_536, DEFAULT_CHUNK_SIZE - 1, DEFAULT_CHUNK_SIZE, DEFAULT_CHUNK_SIZE + 1, 3 * DEFAULT_CHUNK_SIZE + 17];
    for (let i = 0; i < 20; i++) {
      const size = sizes[i % sizes.length] + (i >= sizes.length ? 1000 * i : 0);
      const src = join(cluster.root, `src-${i}`);
      const hash = await writeRandomFile(src, size);
      const put = await cluster.cli(['put', src, `heal/${i}.bin`]);
      expect(put.code).toBe(0);
      files.set(`heal/${i}.bin`, hash);
    }
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  /** Every chunk of every file is on exactly/at least `replicas` live nodes, and every file reads back. */
  async function expectFullyReplicated(exact: boolean): Promise<void> {
    const alive = new Set((await cluster.sdk.nodesInfo()).filter((n) => n.state === 'alive').map((n) => n.id));
    for (const name of files.keys()) {
      const stat = await cluster.sdk.stat(name);
      for (const chunk of stat.chunks) {
        const live = chunk.nodes.filter((id) => alive.has(id));
        if (exact) expect(live).toHaveLength(2);
        else expect(live.length).toBeGreaterThanOrEqual(2);
      }
    }
  }

  /** Every copy of these chunks on the nodes' disks. */
  async function copiesOf(hashes: readonly string[]): Promise<Array<{ path: string }>> {
    return (await Promise.all(hashes.map((hash) => cluster.chunkFiles(hash)))).flat();
  }

  async function expectAllFilesReadBack(): Promise<void> {
    for (const [name, hash] of files) {
      const dest = join(cluster.root, 'readback');
      await cluster.sdk.getToFile(name, dest);
      expect(await sha256File(dest)).toBe(hash);
    }
  }

  it('starts fully replicated', async () => {
    expect(await cluster.sdk.status()).toMatchObject({ underReplicated: 0, lost: 0 });
    await expectFullyReplicated(true);
  });

  it('re-replicates every chunk of a node killed with -9, within a bounded time', async () => {
    const victim = cluster.nodes[1];
    const held = (await cluster.sdk.nodesInfo()).find((n) => n.id === victim.id)!.chunks;
    expect(held).toBeGreaterThan(0);
    await cluster.killNode(1);
    // Dead after --node-timeout (2 s); repair must finish within a few more multiples of it.
    await waitUntil(async () => (await cluster.sdk.nodesInfo()).find((n) => n.id === victim.id)?.state === 'dead', 10_000);
    await waitUntil(async () => (await cluster.sdk.status()).underReplicated === 0, 15_000);
    const status = await cluster.sdk.status();
    expect(status.lost).toBe(0);
    expect(status.repair.copiedChunks).toBeGreaterThan(0);
    await expectFullyReplicated(true);
    await expectAllFilesReadBack();
  });

  it('reconciles the node when it returns: surplus replicas go, nothing a file needs is removed', async () => {
    await cluster.startNode(1);
    await cluster.waitForAliveNodes(4);
    // Right after the return some chunks have 3 live replicas; at every check each has at least 2.
    const deadline = Date.now() + 20_000;
    for (;;) {
      await expectFullyReplicated(false);
      const stats = await Promise.all([...files.keys()].map((n) => cluster.sdk.stat(n)));
      const surplus = stats.some((s) => s.chunks.some((c) => c.nodes.length > 2));
      if (!surplus) break;
      if (Date.now() > deadline) throw new Error('surplus replicas were not removed');
      await new Promise((r) => setTimeout(r, 300));
    }
    await expectFullyReplicated(true);
    await expectAllFilesReadBack();
  });

  it('resumes repair after the controller is killed with -9 in the middle of it', async () => {
    await cluster.killNode(2);
    await waitUntil(async () => (await cluster.sdk.nodesInfo()).find((n) => n.id === cluster.nodes[2].id)?.state === 'dead', 10_000);
    await waitUntil(async () => (await cluster.sdk.status()).repair.copiedChunks > 0, 10_000);
    await cluster.killController();
    await cluster.startController();
    // After a restart the nodes the catalog knows are suspect until they heartbeat (the live ones do
    // within a second); the one that stays down is dead once a node timeout has passed, and repair
    // goes on then.
    await cluster.waitForAliveNodes(3);
    const stateOf2 = async () => (await cluster.sdk.nodesInfo()).find((n) => n.id === cluster.nodes[2].id)?.state;
    await waitUntil(async () => (await stateOf2()) === 'dead', 10_000);
    await waitUntil(async () => (await cluster.sdk.status().catch(() => ({ underReplicated: -1 }))).underReplicated === 0, 20_000);
    await expectFullyReplicated(true);
    await expectAllFilesReadBack();
    await cluster.startNode(2);
    await cluster.waitForAliveNodes(4);
  });

  it('keeps the locations of chunks written while nodes are still reporting after a controller restart', async () => {
    await cluster.killController();
    await cluster.startController();
    await cluster.waitForAliveNodes(4);
    // Right after the nodes re-register their chunk reports are still in flight: write at once.
    const written = new Map<string, Buffer>();
    const sdk = cluster.client();
    await Promise.all(
      Array.from({ length: 8 }, async (_, worker) => {
        for (let i = 0; i < 10; i++) {
          const content = randomBytes(2000 + worker * 100 + i);
          const name = `race/${worker}-${i}.bin`;
          await sdk.put(name, content);
          written.set(name, content);
        }
      }),
    );
    await new Promise((r) => setTimeout(r, 3000)); // every report reconciled by now
    const status = await cluster.sdk.status();
    expect(status).toMatchObject({ lost: 0, underReplicated: 0 });
    // Every node came back: the restarted controller had nothing to copy (nodes that had not yet
    // re-registered were suspect, not dead).
    expect(status.repair.copiedChunks).toBe(0);
    for (const [name, content] of written) {
      const stat = await cluster.sdk.stat(name);
      expect(stat.chunks[0].nodes.length).toBeGreaterThanOrEqual(2);
      const chunks: Buffer[] = [];
      for await (const piece of cluster.sdk.read(name)) chunks.push(piece);
      expect(Buffer.concat(chunks).equals(content)).toBe(true);
    }
  });

  it('gives space back on every node after rm and replace, once the grace period is over', async () => {
    const used = async () => (await cluster.sdk.nodesInfo()).reduce((sum, n) => sum + n.used, 0);
    const settle = () => new Promise((r) => setTimeout(r, 1500)); // heartbeats carry usage
    await settle();
    const base = await used();
    const content = 4 * DEFAULT_CHUNK_SIZE;
    const src = join(cluster.root, 'space.bin');

    await writeRandomFile(src, content); // X
    expect((await cluster.cli(['put', src, 'space/a.bin'])).code).toBe(0);
    expect((await cluster.cli(['put', src, 'space/b.bin'])).code).toBe(0);
    await waitUntil(async () => (await used()) >= base + 2 * content, 5_000);

    const y = await writeRandomFile(src, content); // Y replaces b, then a goes: X is referenced by nothing
    expect((await cluster.cli(['put', src, 'space/b.bin'])).code).toBe(0);
    expect((await cluster.cli(['rm', 'space/a.bin'])).code).toBe(0);
    // X's replicas are deleted after the 2 s grace; Y's two replicas stay.
    await waitUntil(async () => (await used()) === base + 2 * content, 20_000);
    expect((await cluster.sdk.status()).gc.deletedChunks).toBeGreaterThan(0);
    const dest = join(cluster.root, 'space-back.bin');
    await cluster.sdk.getToFile('space/b.bin', dest);
    expect(await sha256File(dest)).toBe(y);
    await expectAllFilesReadBack();
  });

  it('gives back the space of a put that failed midway: what reached the nodes is recorded before the abort, then collected', async () => {
    const data = randomBytes(3 * DEFAULT_CHUNK_SIZE);
    const hashes = [0, 1, 2].map((i) => sha256(data.subarray(i * DEFAULT_CHUNK_SIZE, (i + 1) * DEFAULT_CHUNK_SIZE)));
    async function* failing(): AsyncGenerator<Uint8Array> {
      yield data;
      throw new Error('the source failed');
    }
    await expect(cluster.sdk.put('failed/midway.bin', failing())).rejects.toThrow('the source failed');
    // The chunks in flight finished on their nodes (well within the 2 s grace: nothing collected yet).
    expect((await copiesOf(hashes)).length).toBeGreaterThan(0);
    // Unrecorded, they would stay until their nodes next register; recorded, GC takes them.
    await waitUntil(async () => (await copiesOf(hashes)).length === 0, 20_000);
    await expect(cluster.sdk.stat('failed/midway.bin')).rejects.toMatchObject({ code: 'E_NOT_FOUND' });
    await expectAllFilesReadBack();
  });

  it('gives back the space of a put whose client was killed with -9: the chunks it held are looked for on the nodes and collected', async () => {
    const { client, exited } = cluster.putFromStdin('killed/big.bin');
    const pieces = Array.from({ length: 6 }, () => randomBytes(DEFAULT_CHUNK_SIZE));
    const hashes = pieces.map((piece) => sha256(piece));
    for (const piece of pieces) client.stdin.write(piece);
    // Killed once the first chunk is on both its nodes: its record still waits in the client's batch
    // (sent 500 ms after the first chunk stored, or at 64), so the controller knows it only as held.
    await waitUntil(async () => (await cluster.chunkFiles(hashes[0])).length >= 2, 20_000, 5);
    client.kill('SIGKILL');
    await exited;
    expect((await copiesOf(hashes)).length).toBeGreaterThanOrEqual(2);
    // The upload expires (2 s idle here), each live node is asked for what it held, and GC takes
    // what it finds after its grace; without that, those copies stayed until their node registered again.
    await waitUntil(async () => (await copiesOf(hashes)).length === 0, 30_000);
    await expect(cluster.sdk.stat('killed/big.bin')).rejects.toMatchObject({ code: 'E_NOT_FOUND' });
    await expectAllFilesReadBack();
  });

  /** A client that prepares an upload and puts a chunk under it on each of its nodes, and commits nothing. */
  async function putUnderPreparedUpload() {
    const data = randomBytes(5000);
    const hash = sha256(data);
    const client = await rawPeer(cluster.controllerAddress);
    expectFrame(await client.request('session.auth', { token: cluster.adminToken }), 'session.info');
    const [upload] = expectFrame(await client.request('upload.prepare', { count: 1 }), 'upload.prepared').body.uploads;
    for (const node of upload.nodes) {
      const peer = await rawPeer(node.address);
      try {
        expectFrame(await peer.putChunk(hash, data, upload.grant), 'chunk.stored');
      } finally {
        peer.close();
      }
    }
    expect(await cluster.chunkFiles(hash)).toHaveLength(upload.nodes.length);
    return { client, upload, hash };
  }

  // A prepared upload's chunk is known to nothing but its nodes (the controller never learnt its hash):
  // whatever ends the upload without a commit, its nodes are asked which chunk they took, and GC takes it.
  it('gives back the space of a prepared upload whose connection closed before its commit', async () => {
    const { client, hash } = await putUnderPreparedUpload();
    client.close();
    await waitUntil(async () => (await cluster.chunkFiles(hash)).length === 0, 20_000);
    await expectAllFilesReadBack();
  });

  it('gives back the space of a prepared upload its client aborted, having put its chunk', async () => {
    const { client, upload, hash } = await putUnderPreparedUpload();
    try {
      expectFrame(await client.request('upload.abort', { uploadId: upload.uploadId }), 'ack');
      await waitUntil(async () => (await cluster.chunkFiles(hash)).length === 0, 20_000);
    } finally {
      client.close();
    }
    await expectAllFilesReadBack();
  });

  it('gives back the space of a prepared upload that expired on a connection still open and silent', async () => {
    const { client, hash } = await putUnderPreparedUpload();
    try {
      // Usable for the GC grace period here (2 s): ended then by the controller, the client sending nothing more.
      await waitUntil(async () => (await cluster.chunkFiles(hash)).length === 0, 20_000);
    } finally {
      client.close();
    }
    await expectAllFilesReadBack();
  });

  it('a node killed during a multi-chunk put: the put succeeds with full redundancy or fails cleanly', async () => {
    const src = join(cluster.root, 'during.bin');
    const hash = await writeRandomFile(src, 48 * DEFAULT_CHUNK_SIZE + 5);
    const putting = cluster.cli(['put', src, 'during/big.bin']);
    // Kill a node as soon as the upload's first chunk is on disk somewhere: the rest is still to come.
    const first = await readFile(src).then((b) => sha256(b.subarray(0, DEFAULT_CHUNK_SIZE)));
    await waitUntil(async () => (await cluster.chunkFiles(first)).length > 0, 20_000, 5);
    await cluster.killNode(3);
    const put = await putting;
    if (put.code === 0) {
      await waitUntil(async () => (await cluster.sdk.status()).underReplicated === 0, 20_000);
      // Seen once (26 Nov 2026, not reproduced since): a put that exited 0 whose file stat did not
      // find. Should it come back, the failure carries what the CLI and the controller said.
      const stat = await cluster.sdk.stat('during/big.bin').catch((err: Error) => {
        const said = [`cli stdout: ${put.stdout.toString()}`, `cli stderr: ${put.stderr}`, ...cluster.controller.lines.slice(-40)];
        throw new Error(`${err.message}\n${said.join('\n')}`);
      });
      expect(stat.sha256).toBe(hash);
      const dest = join(cluster.root, 'during-back.bin');
      await cluster.sdk.getToFile('during/big.bin', dest);
      expect(await sha256File(dest)).toBe(hash);
    } else {
      expect(put.stderr.trim().split('\n')).toHaveLength(1);
      await expect(cluster.sdk.stat('during/big.bin')).rejects.toMatchObject({ code: 'E_NOT_FOUND' });
    }
    await expectAllFilesReadBack();
    await cluster.startNode(3);
    await cluster.waitForAliveNodes(4);
  });
});

describe('scrub and full disks', () => {
  let cluster: TestCluster;

  beforeAll(async () => {
    cluster = await TestCluster.start({
      nodes: 3,
      replicas: 2,
      nodeTimeout: '2s',
      scrubInterval: '1s',
      // Node 0 has room for almost nothing: placement must avoid it.
      nodeFlags: { 0: ['--capacity', '10KiB'] },
    });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('places chunks only on nodes with room', async () => {
    const src = join(cluster.root, 'big.bin');
    const hash = await writeRandomFile(src, 3 * DEFAULT_CHUNK_SIZE);
    expect((await cluster.cli(['put', src, 'full/big.bin'])).code).toBe(0);
    const stat = await cluster.sdk.stat('full/big.bin');
    for (const chunk of stat.chunks) expect(chunk.nodes).not.toContain(cluster.nodes[0].id);
    const dest = join(cluster.root, 'big-back.bin');
    await cluster.sdk.getToFile('full/big.bin', dest);
    expect(await sha256File(dest)).toBe(hash);
  });

  it('detects a rotten chunk by scrub, quarantines it and repairs it, serving correct data meanwhile', async () => {
    const src = join(cluster.root, 'rot.bin');
    const hash = await writeRandomFile(src, 2 * DEFAULT_CHUNK_SIZE);
    expect((await cluster.cli(['put', src, 'scrub/rot.bin'])).code).toBe(0);
    const stat = await cluster.sdk.stat('scrub/rot.bin');
    const [replica] = await cluster.chunkFiles(stat.chunks[0].hash);
    await flipByte(replica.path, 4242);

    // No reads meanwhile: the scrub (every second here) is what finds it.
    const foundByScrub = () => replica.node.proc.lines.some((l) => l.includes('scrub found a bad chunk') && l.includes(stat.chunks[0].hash));
    await waitUntil(foundByScrub, 15_000);
    const dest = join(cluster.root, 'rot-back.bin');
    await cluster.sdk.getToFile('scrub/rot.bin', dest); // during repair the bytes are right
    expect(await sha256File(dest)).toBe(hash);
    const quarantineDir = join(replica.node.data, 'store', 'quarantine');
    expect((await readdir(quarantineDir)).some((f) => f.startsWith(stat.chunks[0].hash))).toBe(true);
    // Repaired: the chunk is back on 2 nodes with good bytes (with node 0 full, that is the bad node again).
    await waitUntil(async () => {
      const copies = await cluster.chunkFiles(stat.chunks[0].hash);
      return copies.filter((c) => !c.path.includes('quarantine')).length >= 2 && (await cluster.sdk.status()).underReplicated === 0;
    }, 15_000);
    await cluster.sdk.getToFile('scrub/rot.bin', dest);
    expect(await sha256File(dest)).toBe(hash);
  });
});

async function flipByte(path: string, offset: number): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, offset);
    byte[0] ^= 0xff;
    await handle.write(byte, 0, 1, offset);
  } finally {
    await handle.close();
  }
}

/**
 * Repair when the only copy on a live node is in doubt and the sound one's node is dead: the target
 * cannot get the chunk from it, the source is asked to check its copy, and once it confirms the copy
 * bad the chunk counts lost (not healthy) until the sound copy comes back with its node.
 */
describe.each([
  {
    doubt: 'a rotten copy (a source that sent wrong bytes)',
    spoil: (path: string) => flipByte(path, 500),
    // Nodes serve chunks unhashed; the target finds the bytes wrong, and the source quarantines its copy.
    left: async (data: string, hash: string) => expect((await readdir(join(data, 'store', 'quarantine'))).some((f) => f.startsWith(hash))).toBe(true),
  },
  {
    doubt: 'a copy gone from its disk (a source that has no such chunk)',
    // Behind its running node's back: the catalog still lists it, and repair retried it for ever.
    spoil: (path: string) => rm(path),
    left: async () => undefined,
  },
])('repair from $doubt', ({ spoil, left }) => {
  let cluster: TestCluster;

  beforeAll(async () => {
    cluster = await TestCluster.start({ nodes: 3, replicas: 2, nodeTimeout: '2s' });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('has the source check its copy: the copy is unlisted and the chunk counted lost until a sound one returns', async () => {
    const content = randomBytes(100_000);
    expect((await cluster.cli(['put', '-', 'doubt/only.bin'], { input: content })).code).toBe(0);
    const [chunk] = (await cluster.sdk.stat('doubt/only.bin')).chunks;
    const [doubtful, sound] = await cluster.chunkFiles(chunk.hash);
    await spoil(doubtful.path);
    await cluster.killNode(sound.node.index);

    const confirmed = () =>
      cluster.controller.lines.some((l) => l.includes('node confirmed a bad replica') && l.includes(chunk.hash) && l.includes(doubtful.node.id));
    await waitUntil(confirmed, 20_000);
    await left(doubtful.node.data, chunk.hash);
    await waitUntil(async () => (await cluster.sdk.status()).lost === 1, 10_000);

    // The sound copy comes back with its node, and the chunk is copied from it.
    await cluster.startNode(sound.node.index);
    await waitUntil(async () => {
      const status = await cluster.sdk.status();
      return status.lost === 0 && status.underReplicated === 0;
    }, 20_000);
    const copies = (await cluster.chunkFiles(chunk.hash)).filter((c) => !c.path.includes('quarantine'));
    expect(copies).toHaveLength(2);
    const dest = join(cluster.root, 'only-back.bin');
    await cluster.sdk.getToFile('doubt/only.bin', dest);
    expect(await readFile(dest)).toEqual(content);
  });
});

describe('a controller restart', () => {
  let cluster: TestCluster;
  beforeAll(async () => {
    cluster = await TestCluster.start({ nodes: 3, replicas: 2, nodeTimeout: '8s' });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('copies nothing while a node that was up re-registers late, and counts it suspect meanwhile', async () => {
    const names: string[] = [];
    for (let i = 0; i < 6; i++) {
      names.push(`late/${i}.bin`);
      await cluster.sdk.put(names[i], randomBytes(5000 + i));
    }
    const late = cluster.nodes[0];
    await cluster.killController();
    late.proc.child.kill('SIGSTOP'); // it cannot re-register until it is continued
    try {
      await cluster.startController();
      await cluster.waitForAliveNodes(2);
      const state = (await cluster.sdk.nodesInfo()).find((n) => n.id === late.id)?.state;
      expect(state).toBe('suspect');
      await new Promise((r) => setTimeout(r, 2500)); // two healing passes or more, within the node timeout
    } finally {
      late.proc.child.kill('SIGCONT');
    }
    await cluster.waitForAliveNodes(3);
    const status = await cluster.sdk.status();
    expect(status.repair.copiedChunks).toBe(0);
    expect(status).toMatchObject({ lost: 0, underReplicated: 0 });
    for (const name of names) expect((await cluster.sdk.stat(name)).chunks[0].nodes).toHaveLength(2);
  });
});
