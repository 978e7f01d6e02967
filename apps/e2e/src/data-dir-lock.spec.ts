import { join } from 'node:path';
import { TestCluster } from './support/test-cluster';
import { MAIN, spawnProcess } from './support/processes';

/** A second process on a data directory in use would clear the first's temp and blank files at start. */
describe('one process per data directory', () => {
  let cluster: TestCluster;

  beforeAll(async () => {
    cluster = await TestCluster.start({ nodes: 1 });
  });

  afterAll(async () => {
    await cluster.stop();
  });

  it('refuses a second controller or node on a data directory in use, with one line and exit 2', async () => {
    const controller = spawnProcess(MAIN.controller, ['--host', '127.0.0.1', '--port', '0', '--data', join(cluster.root, 'controller')]);
    const node = spawnProcess(MAIN.node, ['--host', '127.0.0.1', '--port', '0', '--data', cluster.nodes[0].data, '--controller', cluster.controllerAddress, '--cluster-secret-file', cluster.secretFile]);

    for (const [second, role] of [[controller, 'controller'], [node, 'node']] as const) {
      expect(await second.exited).toEqual({ code: 2, signal: null });
      const error = second.lines.find((line) => line.includes('in use'));
      expect(error).toMatch(new RegExp(`^cairn-${role}: .* is in use by another ${role} \\(pid \\d+\\): stop it first, or remove .*LOCK if no process uses the directory$`));
    }
    expect((await cluster.sdk.status()).nodes.alive).toBe(1); // the first ones serve on
  });

  it('lets a restart take over the lock a killed process left behind', async () => {
    await cluster.killNode(0);
    await cluster.killController();

    // Each waits for its 'listening' line: a lock left by kill -9 must not hold it back.
    await cluster.startController();
    await cluster.startNode(0);

    await cluster.waitForAliveNodes(1);
    expect((await cluster.sdk.status()).nodes.alive).toBe(1);
  });
});
