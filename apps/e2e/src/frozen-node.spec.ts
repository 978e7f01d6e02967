import { createHash, randomBytes } from 'node:crypto';
import { CairnClient } from '@cairn/transfer';
import { TestCluster, type TestNode } from './support/test-cluster';
import { sha256 } from './support/files';

const MiB = 1024 * 1024;
/** The SDK's request timeout here: short, so that waiting it out once is cheap and several times shows. */
const TIMEOUT_MS = 2_000;

/**
 * A get while one of the file's holders is frozen (SIGSTOP): its connections stay open and nothing is
 * answered, and the controller (a long --node-timeout) still lists it alive. The get waits out one
 * request timeout, then reads every chunk from the other replicas, and so does the next get.
 */
describe('a frozen node', () => {
  let cluster: TestCluster;
  let frozen: TestNode | undefined;
  let client: CairnClient;
  const lines: Array<{ fields: Record<string, unknown>; message: string }> = [];

  beforeAll(async () => {
    cluster = await TestCluster.start({ nodes: 4, replicas: 2, nodeTimeout: '60s' });
    client = new CairnClient({
      controller: cluster.controllerAddress,
      token: cluster.adminToken,
      requestTimeoutMs: TIMEOUT_MS,
      log: { debug: (fields, message) => lines.push({ fields: fields as Record<string, unknown>, message }) },
    });
  });
  afterAll(async () => {
    if (frozen?.proc.child.pid) process.kill(frozen.proc.child.pid, 'SIGCONT');
    await client?.close();
    await cluster?.stop();
  });

  /** Reads the file through `client`, running `onFirstChunk` once its first chunk is in; its SHA-256 and the time it took. */
  async function timedGet(name: string, onFirstChunk: () => void = () => undefined) {
    const hash = createHash('sha256');
    const started = Date.now();
    let chunks = 0;
    for await (const chunk of client.read(name)) {
      hash.update(chunk);
      if (chunks++ === 0) onFirstChunk();
    }
    return { sha256: hash.digest('hex'), ms: Date.now() - started };
  }

  it('reads a file in about one request timeout, not one per chunk, and the next get does not wait for the node at all', async () => {
    const data = randomBytes(128 * MiB);
    await cluster.sdk.put('big1', data);
    const holders = await holdersOf('big1');
    const [holderId, held] = [...holders].sort((a, b) => b[1] - a[1])[0];
    const node = cluster.nodes.find((n) => n.id === holderId) as TestNode;
    const failOversOn = () => lines.filter((l) => l.message.startsWith('a replica failed a chunk read') && l.fields['node'] === holderId);

    const first = await timedGet('big1', () => {
      frozen = node;
      process.kill(node.proc.child.pid as number, 'SIGSTOP');
    });

    expect(first.sha256).toBe(sha256(data));
    // One timeout and the reading, where it had waited a timeout per round of chunks asked of the node
    // (it holds this many; a round is up to the window's 8): three of them here before the fix.
    expect(held).toBeGreaterThanOrEqual(8);
    expect(first.ms).toBeLessThan(2 * TIMEOUT_MS);
    const failed = failOversOn();
    expect(failed.length).toBeGreaterThan(0);
    expect(failed.length).toBeLessThanOrEqual(8); // the requests in flight when it froze, failed over together
    expect(failed.every((l) => l.fields['code'] === 'E_TIMEOUT' || l.fields['code'] === 'E_UNAVAILABLE')).toBe(true);

    const second = await timedGet('big1');
    expect(second.sha256).toBe(sha256(data));
    expect(second.ms).toBeLessThan(TIMEOUT_MS);
    expect(failOversOn()).toHaveLength(failed.length);
  });

  async function holdersOf(name: string): Promise<Map<string, number>> {
    const chunks = new Map<string, number>();
    for (const chunk of (await cluster.sdk.stat(name)).chunks) for (const id of chunk.nodes) chunks.set(id, (chunks.get(id) ?? 0) + 1);
    return chunks;
  }
});
