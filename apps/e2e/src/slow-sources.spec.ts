import { randomBytes } from 'node:crypto';
import { DEFAULT_CHUNK_SIZE } from '@cairn/protocol';
import { CairnClient } from '@cairn/transfer';
import { TestCluster, waitUntil } from './support/test-cluster';
import { sha256 } from './support/files';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Yields each piece after `ms` of silence. */
async function* silentBeforeEach(pieces: Buffer[], ms: number): AsyncGenerator<Buffer> {
  for (const piece of pieces) {
    await sleep(ms);
    yield piece;
  }
}

async function readAll(client: CairnClient, name: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of client.read(name)) parts.push(Buffer.from(part));
  return Buffer.concat(parts);
}

/**
 * A put outlives its controller connection: the controller closes a connection that carried nothing
 * for its idle timeout (2 s here) while the source is silent, or it restarts meanwhile, and the put
 * goes on with the upload it began, on a new connection.
 */
describe('puts from slow sources', () => {
  let cluster: TestCluster;
  /** Connections the client under test made, counted by its debug log. */
  let connections = 0;
  let client: CairnClient;

  beforeAll(async () => {
    cluster = await TestCluster.start({ nodes: 2, replicas: 2, controllerFlags: ['--idle-timeout', '2s'] });
  });
  beforeEach(() => {
    connections = 0;
    client = new CairnClient({
      controller: cluster.controllerAddress,
      token: cluster.adminToken,
      log: {
        debug: (_fields, message) => {
          if (message === 'connected and authenticated') connections++;
        },
      },
    });
  });
  afterEach(async () => {
    await client.close();
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('completes a put whose source is silent past the idle timeout before its first chunk and before its next', async () => {
    const content = randomBytes(DEFAULT_CHUNK_SIZE + 1000);

    const file = await client.put('slow/idle.bin', silentBeforeEach([content.subarray(0, DEFAULT_CHUNK_SIZE), content.subarray(DEFAULT_CHUNK_SIZE)], 3_500));

    expect(file).toMatchObject({ size: content.length, chunkCount: 2, sha256: sha256(content) });
    expect(connections).toBeGreaterThanOrEqual(3); // one more after each silence
    expect(sha256(await readAll(client, 'slow/idle.bin'))).toBe(sha256(content));
  });

  it('completes a put whose source is silent while the controller restarts', async () => {
    const content = randomBytes(DEFAULT_CHUNK_SIZE + 1000);
    let resume!: () => void;
    const resumed = new Promise<void>((resolve) => (resume = resolve));
    async function* silentMeanwhile() {
      yield content.subarray(0, DEFAULT_CHUNK_SIZE);
      await resumed;
      yield content.subarray(DEFAULT_CHUNK_SIZE);
    }
    let stored = 0;

    const putting = client.put('slow/restart.bin', silentMeanwhile(), { onProgress: (p) => (stored = p.chunks) });
    await waitUntil(() => stored === 1, 15_000);
    await sleep(2_000); // the first chunk's record reaches the controller (batched for at most 500 ms)
    await cluster.killController();
    await cluster.startController();
    await cluster.waitForAliveNodes(2);
    resume();

    const file = await putting;
    expect(file).toMatchObject({ size: content.length, chunkCount: 2, sha256: sha256(content) });
    expect(connections).toBeGreaterThanOrEqual(2);
    expect(sha256(await readAll(client, 'slow/restart.bin'))).toBe(sha256(content));
  });
});
