import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULT_CHUNK_SIZE } from '@cairn/protocol';
import { TestCluster } from './support/test-cluster';
import { MAIN } from './support/processes';
import { sha256, sha256File } from './support/files';

/** Chunk files a node holds (its store's fan-out tree), counted from the outside. */
async function chunkFiles(nodeData: string): Promise<number> {
  const entries = await readdir(join(nodeData, 'store', 'chunks'), { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile() && /^[0-9a-f]{64}$/.test(e.name)).length;
}

async function waitUntil(test: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await test())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A put interrupted and run again sends only what the nodes do not already hold (issue: surfaces). */
describe('resumable puts', () => {
  let cluster: TestCluster;

  beforeAll(async () => {
    cluster = await TestCluster.start({ nodes: 3, replicas: 2 });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('a put killed midway and run again skips the chunks already stored, and the file is exact', async () => {
    const chunk = DEFAULT_CHUNK_SIZE;
    const content = randomBytes(10 * chunk + 123);
    const src = join(cluster.root, 'resume.bin');
    await writeFile(src, content);

    // A put from stdin that gets 6 whole chunks and then stalls, then dies like a crashed client.
    const child = spawn(process.execPath, [MAIN.client, '--controller', cluster.controllerAddress, 'put', '-', 'resume/big.bin'], {
      env: { PATH: process.env['PATH'], CAIRN_TOKEN: cluster.adminToken },
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.stdin.write(content.subarray(0, 6 * chunk + 100));
    const total = async () => (await Promise.all(cluster.nodes.map((n) => chunkFiles(n.data)))).reduce((a, b) => a + b, 0);
    await waitUntil(async () => (await total()) >= 6 * 2, 15_000);
    await new Promise((r) => setTimeout(r, 1500)); // the client tells the controller within 500 ms
    child.kill('SIGKILL');
    await exited;
    expect(await cluster.sdk.stat('resume/big.bin').catch((e) => e.code)).toBe('E_NOT_FOUND');

    const again = await cluster.cli(['put', src, 'resume/big.bin']);
    expect(again.stderr).toBe('');
    expect(again.code).toBe(0);
    expect(again.stdout.toString()).toMatch(/skipped 6 chunks/);

    const dest = join(cluster.root, 'resume-copy.bin');
    expect((await cluster.cli(['get', 'resume/big.bin', dest])).code).toBe(0);
    expect(await sha256File(dest)).toBe(sha256(content));
    const stat = await cluster.sdk.stat('resume/big.bin');
    expect(stat.chunks.every((c) => new Set(c.nodes).size === 2)).toBe(true);
  });

  it('a put of content the cluster already holds sends no chunk at all', async () => {
    const content = randomBytes(3 * DEFAULT_CHUNK_SIZE);
    const first = await cluster.sdk.put('dedup/a.bin', content);
    let skipped = -1;
    const second = await cluster.sdk.put('dedup/b.bin', content, { onProgress: (p) => (skipped = p.skippedChunks) });
    expect(skipped).toBe(3);
    expect(second.sha256).toBe(first.sha256);
    const bytes = [];
    for await (const piece of cluster.sdk.read('dedup/b.bin')) bytes.push(piece);
    expect(sha256(Buffer.concat(bytes))).toBe(sha256(content));
  });
});
