import { join } from 'node:path';
import { TestCluster, waitUntil } from './support/test-cluster';
import { sha256File, writeRandomFile } from './support/files';

/** An admin forgets a node gone for good; should it come back after all, it registers again. */
describe('forget a dead node', () => {
  let cluster: TestCluster;

  beforeAll(async () => {
    cluster = await TestCluster.start({ nodes: 3, replicas: 2 });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  const listedIds = async () => (JSON.parse((await cluster.cli(['nodes', '--json'])).stdout.toString()) as Array<{ id: string }>).map((n) => n.id).sort();

  it('refuses a live node, forgets a dead one from nodes and status, and takes it back when it returns', async () => {
    const src = join(cluster.root, 'kept.bin');
    const hash = await writeRandomFile(src, 3 * 1024 * 1024 + 17);
    expect((await cluster.cli(['put', src, 'kept.bin'])).code).toBe(0);
    const [alive, , gone] = cluster.nodes;

    const refused = await cluster.cli(['forget', alive.id]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/^cairn: node \S+ is alive: only a dead node can be forgotten.*\(E_USAGE\)\n$/);

    await cluster.killNode(gone.index);
    await waitUntil(async () => (await cluster.sdk.nodesInfo()).find((n) => n.id === gone.id)?.state === 'dead', 15_000);
    const forget = await cluster.cli(['forget', gone.id, '--json']);
    expect(forget.stderr).toBe('');
    expect(JSON.parse(forget.stdout.toString())).toEqual({ node: gone.id, forgotten: true });

    expect(await listedIds()).toEqual([cluster.nodes[0].id, cluster.nodes[1].id].sort());
    const status = JSON.parse((await cluster.cli(['status', '--json'])).stdout.toString());
    expect(status.nodes).toMatchObject({ alive: 2, dead: 0 });
    await waitUntil(async () => (await cluster.sdk.status()).underReplicated === 0, 20_000);
    const holders = async () => (JSON.parse((await cluster.cli(['stat', 'kept.bin', '--json'])).stdout.toString()).chunks as Array<{ nodes: string[] }>).flatMap((c) => c.nodes);
    await waitUntil(async () => !(await holders()).includes(gone.id), 10_000); // its copies unlisted, in the background
    const back = join(cluster.root, 'kept-back.bin');
    expect((await cluster.cli(['get', 'kept.bin', back])).code).toBe(0);
    expect(await sha256File(back)).toBe(hash);

    await cluster.startNode(gone.index);
    await cluster.waitForAliveNodes(3);
    expect(await listedIds()).toEqual(cluster.nodes.map((n) => n.id).sort());
    expect((await cluster.cli(['get', 'kept.bin', back])).code).toBe(0);
    expect(await sha256File(back)).toBe(hash);
  });
});
