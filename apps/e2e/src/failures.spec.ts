import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { open, readdir, readFile } from 'node:fs/promises';
import Database from 'better-sqlite3';
import { DEFAULT_CHUNK_SIZE } from '@cairn/protocol';
import { TestCluster, waitUntil } from './support/test-cluster';
import { sha256, sha256File, writeRandomFile } from './support/files';
import { rawPeer } from './support/raw';

/** Invariants 1–3 under real failures: kill -9, interrupted uploads, rotten disks. */
describe('failures', () => {
  let cluster: TestCluster;

  beforeAll(async () => {
    cluster = await TestCluster.start({ nodes: 3, replicas: 2 });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('keeps every acknowledged file across a kill -9 of the controller', async () => {
    const expected = new Map<string, string>();
    for (let i = 0; i < 6; i++) {
      const src = join(cluster.root, `durable-${i}.bin`);
      expected.set(`durable/${i}.bin`, await writeRandomFile(src, i * 700_000 + 1));
      const put = await cluster.cli(['put', src, `durable/${i}.bin`]);
      expect(put.code).toBe(0);
    }
    await cluster.killController(); // right after the last acknowledgement
    await cluster.startController();
    await cluster.waitForAliveNodes(3);

    const listed = JSON.parse((await cluster.cli(['ls', 'durable/', '--json'])).stdout.toString());
    expect(listed.map((f: { name: string }) => f.name).sort()).toEqual([...expected.keys()].sort());
    for (const [name, hash] of expected) {
      const dest = join(cluster.root, 'back.bin');
      expect((await cluster.cli(['get', name, dest])).code).toBe(0);
      expect(await sha256File(dest)).toBe(hash);
    }
  });

  it('puts small files in a run through uploads prepared ahead, across a kill -9 of the controller, and leaves none open', async () => {
    const metric = async (type: string) => {
      const response = await fetch(`http://${cluster.controllerAddress}/metrics`, { headers: { authorization: `Bearer ${cluster.adminToken}` } });
      const line = (await response.text()).split('\n').find((l) => l.startsWith(`cairn_rpc_request_duration_seconds_count{type="${type}"}`));
      return Number(line?.split(' ')[1] ?? 0);
    };
    const unnamedUploads = () => {
      const catalog = new Database(join(cluster.root, 'controller', 'catalog.db'), { readonly: true });
      try {
        return (catalog.prepare("SELECT count(*) AS n FROM uploads WHERE name = ''").get() as { n: number }).n;
      } finally {
        catalog.close();
      }
    };
    const sdk = cluster.client();
    const expected = new Map<string, Buffer>();
    const putRun = async (from: number, to: number) => {
      for (let i = from; i < to; i++) {
        const data = randomBytes(100 + i);
        await sdk.put(`prepared/${i}.bin`, data);
        expected.set(`prepared/${i}.bin`, data);
      }
    };
    const [begins, prepares] = [await metric('upload.begin'), await metric('upload.prepare')];
    await putRun(0, 20);
    // Two begins (the first put alone, the second asking for uploads ahead), then none.
    expect((await metric('upload.begin')) - begins).toBe(2);
    expect((await metric('upload.prepare')) - prepares).toBeGreaterThanOrEqual(1);
    expect(unnamedUploads()).toBeGreaterThan(0);

    await cluster.killController(); // the SDK holds prepared uploads the new controller knows no owner of
    await cluster.startController();
    await cluster.waitForAliveNodes(3);
    await waitUntil(() => unnamedUploads() === 0, 10_000); // aborted at the start
    await putRun(20, 40);
    expect(await metric('upload.prepare')).toBeGreaterThan(0);

    for (const [name, data] of expected) expect(await readAll(sdk.get(name))).toEqual(data);
    await sdk.close(); // the controller aborts what the connection left
    await waitUntil(() => unnamedUploads() === 0, 10_000);
  });

  it('leaves no visible file when the client is killed mid-upload', async () => {
    const { client, exited } = cluster.putFromStdin('interrupted/big.bin');
    // Feed several chunks, wait until some are durably on the nodes, then kill the client.
    const piece = Buffer.alloc(DEFAULT_CHUNK_SIZE, 7);
    const chunkHash = sha256(piece);
    for (let i = 0; i < 6; i++) client.stdin.write(piece);
    await waitUntil(async () => (await cluster.chunkFiles(chunkHash)).length >= 2, 20_000);
    client.kill('SIGKILL');
    await exited;

    const stat = await cluster.cli(['stat', 'interrupted/big.bin']);
    expect(stat.code).toBe(3);
    expect(JSON.parse((await cluster.cli(['ls', 'interrupted/', '--json'])).stdout.toString())).toEqual([]);
    const status = JSON.parse((await cluster.cli(['status', '--json'])).stdout.toString());
    expect(status.lost).toBe(0);
  });

  it('detects a chunk corrupted on disk, serves the other replica, reports the bad one and repairs it', async () => {
    const src = join(cluster.root, 'rot.bin');
    const expected = await writeRandomFile(src, 2 * DEFAULT_CHUNK_SIZE + 123);
    expect((await cluster.cli(['put', src, 'rot/file.bin'])).code).toBe(0);
    const stat = JSON.parse((await cluster.cli(['stat', 'rot/file.bin', '--json'])).stdout.toString());
    const victim = stat.chunks[1];
    const [replica] = await cluster.chunkFiles(victim.hash);
    expect(victim.nodes).toContain(replica.node.id);
    await flipByte(replica.path, 1000);

    // Whichever replica a read picks first, it returns the right bytes. Nodes serve chunks unhashed, so
    // the reader is the one to find the rotten copy: it reports it, the controller has its node check
    // it (the node quarantines it), and the chunk is copied again from the sound replica.
    const logged = (message: string) => () =>
      cluster.controller.lines.some((l) => l.includes(message) && l.includes(victim.hash) && l.includes(replica.node.id));
    for (let attempt = 0; attempt < 20 && !logged('checking a replica found bad')(); attempt++) {
      const dest = join(cluster.root, `rot-${attempt}.bin`);
      const get = await cluster.cli(['get', 'rot/file.bin', dest]);
      expect(get.code).toBe(0);
      expect(await sha256File(dest)).toBe(expected);
    }
    await waitUntil(logged('checking a replica found bad'), 5_000);
    await waitUntil(logged('node confirmed a bad replica'), 10_000);
    const quarantined = join(replica.node.data, 'store', 'quarantine');
    expect((await readdir(quarantined)).some((f) => f.startsWith(victim.hash))).toBe(true);
    await waitUntil(async () => {
      const copies = (await cluster.chunkFiles(victim.hash)).filter((c) => !c.path.includes('quarantine'));
      return copies.length === 2 && (await cluster.sdk.status()).underReplicated === 0;
    }, 15_000);
    const dest = join(cluster.root, 'rot-repaired.bin');
    expect((await cluster.cli(['get', 'rot/file.bin', dest])).code).toBe(0);
    expect(await sha256File(dest)).toBe(expected);
  });

  it('acknowledges quietly a report about a copy the catalog no longer lists (a reader with an older list)', async () => {
    const content = Buffer.from('stale list '.repeat(100));
    expect((await cluster.cli(['put', '-', 'rot/stale.txt'], { input: content })).code).toBe(0);
    const [chunk] = (await cluster.sdk.stat('rot/stale.txt')).chunks;
    const elsewhere = cluster.nodes.find((n) => !chunk.nodes.includes(n.id));
    if (!elsewhere) throw new Error('3 nodes and 2 replicas: one node must not hold the chunk');
    const peer = await rawPeer(cluster.controllerAddress);
    try {
      expect((await peer.request('session.auth', { token: cluster.adminToken })).type).toBe('session.info');
      expect((await peer.request('chunk.bad', { hash: chunk.hash, nodeId: elsewhere.id, reason: 'E_NOT_FOUND' })).type).toBe('ack');
    } finally {
      peer.close();
    }
    await new Promise((r) => setTimeout(r, 500)); // room for a warning or a check, were there to be one
    const about = (l: string) => l.includes(chunk.hash) && l.includes(elsewhere.id);
    expect(cluster.controller.lines.filter(about)).toEqual([]);
    expect((await cluster.sdk.stat('rot/stale.txt')).chunks[0].nodes).toEqual(chunk.nodes);
  });

  it.each([
    ['its chunk list (its manifest hash)', false],
    ['its SHA-256 (a file committed before manifest hashes were kept)', true],
  ])('refuses the bytes of a file whose catalog lists its chunks out of order, by %s', async (_how, older) => {
    const name = `reordered/${older ? 'older' : 'newer'}.bin`;
    const src = join(cluster.root, 'reordered.bin');
    await writeRandomFile(src, 2 * DEFAULT_CHUNK_SIZE + 123);
    expect((await cluster.cli(['put', src, name])).code).toBe(0);
    expect((await cluster.sdk.stat(name)).manifestSha256).toMatch(/^[0-9a-f]{64}$/);

    // The catalog itself goes wrong while the controller is down: chunks 0 and 1 (same size) swap places.
    await cluster.killController();
    const catalog = new Database(join(cluster.root, 'controller', 'catalog.db'));
    try {
      const { id } = catalog.prepare('SELECT id FROM files WHERE name = ?').get(name) as { id: number };
      catalog.transaction(() => {
        const move = catalog.prepare('UPDATE file_chunks SET idx = ? WHERE file_id = ? AND idx = ?');
        move.run(1_000_000, id, 0);
        move.run(0, id, 1);
        move.run(1, id, 1_000_000);
        if (older) catalog.prepare('UPDATE files SET manifest_sha256 = NULL WHERE id = ?').run(id);
      })();
    } finally {
      catalog.close();
    }
    await cluster.startController();
    await cluster.waitForAliveNodes(3);

    const dest = join(cluster.root, 'reordered-back.bin');
    const get = await cluster.cli(['get', name, dest]);
    expect(get.code).toBe(6);
    expect(get.stderr.toString()).toMatch(/E_CORRUPT/);
    await expect(readFile(dest)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('fails a get cleanly, without a partial file, when every replica is corrupt', async () => {
    const content = Buffer.from('x'.repeat(5000));
    expect((await cluster.cli(['put', '-', 'rot/all.txt'], { input: content })).code).toBe(0);
    for (const { path } of await cluster.chunkFiles(sha256(content))) await flipByte(path, 10);
    const dest = join(cluster.root, 'all.txt');
    const get = await cluster.cli(['get', 'rot/all.txt', dest]);
    expect(get.code).toBe(6);
    expect(get.stderr).toMatch(/E_CORRUPT/);
    await expect(readFile(dest)).rejects.toMatchObject({ code: 'ENOENT' });
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

async function readAll(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(part);
  return Buffer.concat(parts);
}
