import { existsSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULT_CHUNK_SIZE } from '@cairn/protocol';
import { type TestNode, TestCluster, waitUntil } from './support/test-cluster';
import { sha256File, writeRandomFile } from './support/files';

interface StatChunk {
  hash: string;
  nodes: string[];
}

/**
 * Invariant 4 for a copy that vanished from a running node's disk (`rm` of its chunk file): the
 * node's scrub walks the files that are there and cannot see it, so every min(--scrub-interval, 1 h)
 * the node checks the chunks the controller lists on it against its disk, and reports the missing
 * one; the controller repairs it from the other copy. No read is made before the repair. A disk that
 * looks gone as a whole (its chunk directory missing) is reported as nothing: an error line instead.
 */
describe('a chunk file deleted from a running node', () => {
  let cluster: TestCluster;

  beforeAll(async () => {
    cluster = await TestCluster.start({ nodes: 3, replicas: 2, nodeTimeout: '2s', scrubInterval: '2s' });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  const chunksOf = async (name: string): Promise<StatChunk[]> => {
    const stat = await cluster.cli(['stat', name, '--json']);
    expect(stat.code).toBe(0);
    return (JSON.parse(stat.stdout.toString()) as { chunks: StatChunk[] }).chunks;
  };
  const nodeById = (id: string): TestNode => {
    const node = cluster.nodes.find((n) => n.id === id);
    if (!node) throw new Error(`no test node ${id}`);
    return node;
  };
  const chunkPath = (node: TestNode, hash: string) => join(node.data, 'store', 'chunks', hash.slice(0, 2), hash);
  /** On as many nodes as its factor, each of which has its file. */
  const fullyStored = (chunk: StatChunk) => chunk.nodes.length === 2 && chunk.nodes.every((id) => existsSync(chunkPath(nodeById(id), chunk.hash)));

  it('is found by the next scrub round and repaired to full redundancy', async () => {
    const src = join(cluster.root, 'vanish.bin');
    const hash = await writeRandomFile(src, DEFAULT_CHUNK_SIZE + 4321);
    expect((await cluster.cli(['put', src, 'vanish.bin'])).code).toBe(0);
    const [chunk] = await chunksOf('vanish.bin');
    expect(fullyStored(chunk)).toBe(true);

    const victim = nodeById(chunk.nodes[0]);
    await rm(chunkPath(victim, chunk.hash));

    // The victim's check (every --scrub-interval, 2 s here) finds it; the controller hears of it.
    const reported = () => victim.proc.lines.some((line) => line.includes('missing from the disk') && line.includes(chunk.hash));
    await waitUntil(reported, 20_000);
    // Repaired: on 2 nodes again, each with the chunk's file, and nothing short in the cluster.
    await waitUntil(async () => fullyStored((await chunksOf('vanish.bin'))[0]) && (await cluster.sdk.status()).underReplicated === 0, 20_000);
    expect(await cluster.sdk.status()).toMatchObject({ underReplicated: 0, lost: 0 });

    const dest = join(cluster.root, 'vanish-back.bin');
    expect((await cluster.cli(['get', 'vanish.bin', dest])).code).toBe(0);
    expect(await sha256File(dest)).toBe(hash);
  });

  it('reports nothing while the chunk directory is gone (a dropped mount), and logs an error instead', async () => {
    const node = cluster.nodes.find((n) => existsSync(join(n.data, 'store', 'chunks')) && n.proc.lines.length > 0);
    if (!node) throw new Error('no running test node');
    const chunks = join(node.data, 'store', 'chunks');
    const before = node.proc.lines.length;
    await rename(chunks, `${chunks}.away`);
    try {
      const since = () => node.proc.lines.slice(before);
      await waitUntil(() => since().some((line) => line.includes('the data directory looks absent or damaged')), 20_000);
      expect(since().filter((line) => line.includes('missing from the disk'))).toEqual([]);
    } finally {
      await rename(`${chunks}.away`, chunks);
    }
    expect(await cluster.sdk.status()).toMatchObject({ underReplicated: 0, lost: 0 });
  });
});
