import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MAIN, killHard, spawnProcess, waitForLog } from './support/processes';
import { TestCluster, waitUntil } from './support/test-cluster';

jest.setTimeout(60_000);

/**
 * A node keeps the id of the cluster whose chunks it holds (its `cluster-id` file), and refuses to
 * join another while it holds any: that cluster's controller would find none of them in its catalog and
 * collect them all as orphans once --gc-grace had passed, without a word (a data directory moved to
 * the wrong cluster). An empty node joins any cluster.
 */
describe('cluster identity', () => {
  let a: TestCluster;
  let b: TestCluster;

  beforeAll(async () => {
    a = await TestCluster.start({ nodes: 2, replicas: 2 });
    b = await TestCluster.start({ nodes: 2, replicas: 2, gcGrace: '1s' });
  });

  afterAll(async () => {
    await Promise.allSettled([a?.stop(), b?.stop()]);
  });

  it("refuses, loudly, to bring a node's chunks to another cluster, and keeps them", async () => {
    await a.sdk.put('kept/one', Buffer.from('a chunk of cluster A'));
    const { chunks } = await a.sdk.stat('kept/one');
    const [copy] = (await a.chunkFiles(chunks[0].hash)).filter(({ node }) => node.index === 0);
    const moved = a.nodes[0];
    await a.killNode(0);
    const clusterA = (await readFile(join(moved.data, 'cluster-id'), 'utf8')).trim();
    expect(clusterA).toMatch(/^[0-9a-f]{32}$/);

    // Cluster A's node data, started against cluster B (whose secret it is given).
    const stray = spawnProcess(MAIN.node, ['--host', '127.0.0.1', '--port', '0', '--data', moved.data, '--controller', b.controllerAddress, '--cluster-secret-file', b.secretFile]);
    try {
      const refusal = await waitForLog(stray, (e) => typeof e['msg'] === 'string' && e['msg'].includes('refused to join'));
      expect(refusal).toMatchObject({ level: 50, code: 'E_FORBIDDEN' });
      expect(refusal['msg']).toContain(`belong to cluster ${clusterA}`);
      // Never registered with B, so B collects nothing of it; its chunk and its cluster id stay.
      await new Promise((resolve) => setTimeout(resolve, 2_500)); // more than B's --gc-grace
      expect((await b.sdk.nodesInfo()).map((n) => n.id)).not.toContain(moved.id);
      await access(copy.path);
      expect((await readFile(join(moved.data, 'cluster-id'), 'utf8')).trim()).toBe(clusterA);
    } finally {
      await killHard(stray);
    }

    // Back in its own cluster it joins as before, and its copy still serves.
    await a.startNode(0);
    await a.waitForAliveNodes(2);
    expect((await readFile(join(moved.data, 'cluster-id'), 'utf8')).trim()).toBe(clusterA);
    await a.killNode(1);
    await waitUntil(async () => (await a.sdk.nodesInfo()).find((n) => n.id === a.nodes[1].id)?.state !== 'alive', 15_000);
    const back: Buffer[] = [];
    for await (const part of a.sdk.read('kept/one')) back.push(part);
    expect(Buffer.concat(back).toString()).toBe('a chunk of cluster A');
  });
});
