import { createHash, randomBytes } from 'node:crypto';
import { CairnClient } from '@cairn/transfer';
import { TestCluster, type TestNode } from './support/test-cluster';
import { sha256 } from './support/files';

const MiB = 1024 * 1024;
/**
 * The SDK's request timeout here: short, so that waiting it out once is cheap, yet long enough that a
 * healthy node on a loaded machine never misses it (the fail-over counts below assume so).
 */
const TIMEOUT_MS = 5_000;
/** The file: 16 chunks of 4 MiB, 32 copies on 4 nodes, so that one node holds at least 8, a window's worth. */
const FILE_BYTES = 64 * MiB;

/**
 * A get while one of the file's holders is frozen (SIGSTOP): its connections stay open and nothing is
 * answered, and the controller (a long --node-timeout) still lists it alive. The get waits out one
 * request timeout, then reads every chunk from the other replicas, and so does the next get. What
 * shows it is the count of reads that failed over from the node, not the time the gets took (the
 * performance of the fail-over is a benchmark's to measure).
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

  /** Reads the file through `client`, running `onFirstChunk` once its first chunk is in; its SHA-256. */
  async function readThrough(name: string, onFirstChunk: () => void = () => undefined): Promise<string> {
    const hash = createHash('sha256');
    let chunks = 0;
    for await (const chunk of client.read(name)) {
      hash.update(chunk);
      if (chunks++ === 0) onFirstChunk();
    }
    return hash.digest('hex');
  }

  it('reads a file after one request timeout, not one per chunk, and the next get does not ask the node at all', async () => {
    const data = randomBytes(FILE_BYTES);
    await cluster.sdk.put('big1', data);
    const holders = await holdersOf('big1');
    const [holderId, held] = [...holders].sort((a, b) => b[1] - a[1])[0];
    const node = cluster.nodes.find((n) => n.id === holderId) as TestNode;
    const failOversOn = () => lines.filter((l) => l.message.startsWith('a replica failed a chunk read') && l.fields['node'] === holderId);

    const first = await readThrough('big1', () => {
      frozen = node;
      process.kill(node.proc.child.pid as number, 'SIGSTOP');
    });

    expect(first).toBe(sha256(data));
    // The node holds at least a round of chunks (the window's 8) asked of it: a get that waited out a
    // timeout per round would have failed over every round's reads, not only those in flight when it froze.
    expect(held).toBeGreaterThanOrEqual(8);
    const failed = failOversOn();
    expect(failed.length).toBeGreaterThan(0);
    expect(failed.length).toBeLessThanOrEqual(8); // the requests in flight when it froze, failed over together
    expect(failed.every((l) => l.fields['code'] === 'E_TIMEOUT' || l.fields['code'] === 'E_UNAVAILABLE')).toBe(true);

    const second = await readThrough('big1');
    expect(second).toBe(sha256(data));
    expect(failOversOn()).toHaveLength(failed.length); // nothing asked of the node, so no timeout waited out
  });

  async function holdersOf(name: string): Promise<Map<string, number>> {
    const chunks = new Map<string, number>();
    for (const chunk of (await cluster.sdk.stat(name)).chunks) for (const id of chunk.nodes) chunks.set(id, (chunks.get(id) ?? 0) + 1);
    return chunks;
  }
});
