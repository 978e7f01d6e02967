import { join } from 'node:path';
import { SlowLink, startSlowLink } from '@cairn/transfer/testing/slow-link';
import { TestCluster } from './support/test-cluster';
import { sha256File, writeRandomFile } from './support/files';

const MiB = 1024 * 1024;

/**
 * The CLI over slow links: each node is reached through a proxy that carries 8 MiB/s each way, and
 * announces the proxy's address to clients (`--advertise`). A put keeps 8 chunks of 4 MiB in flight to
 * each node, 4 s of sending there: far beyond the 2 s `--timeout` these runs use, which is a time
 * without progress, not a time per request.
 */
describe('slow links', () => {
  let cluster: TestCluster;
  const links: SlowLink[] = [];

  beforeAll(async () => {
    for (let i = 0; i < 2; i++) links.push(await startSlowLink(() => cluster.nodes[i].port, 8 * MiB));
    cluster = await TestCluster.start({
      nodes: 2,
      replicas: 2,
      nodeFlags: Object.fromEntries(links.map((link, i) => [i, ['--advertise', `127.0.0.1:${link.port}`]])),
    });
  });
  afterAll(async () => {
    await cluster?.stop();
    await Promise.all(links.map((link) => link.close()));
  });

  it('puts and gets a file whose chunks queue behind each other for many times the timeout', async () => {
    const src = join(cluster.root, 'slow.bin');
    const hash = await writeRandomFile(src, 40 * MiB + 12_345);

    const put = await cluster.cli(['--timeout', '2s', 'put', src, 'slow.bin']);
    expect(put.stderr).toBe('');
    expect(put.code).toBe(0);

    const dest = join(cluster.root, 'slow-back.bin');
    const get = await cluster.cli(['--timeout', '2s', 'get', 'slow.bin', dest]);
    expect(get.stderr).toBe('');
    expect(get.code).toBe(0);
    expect(await sha256File(dest)).toBe(hash);
  });

  it('refuses a --timeout under a second with a usage error', async () => {
    const result = await cluster.cli(['--timeout', '500', 'ls']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--timeout must be at least 1s.*\(E_USAGE\)\n$/);
  });

  // Last: the frozen link stays frozen.
  it('fails a put with one line once a node stops taking bytes, a --timeout after it went quiet', async () => {
    const src = join(cluster.root, 'stuck.bin');
    await writeRandomFile(src, 24 * MiB);
    links[1].freeze();

    const put = await cluster.cli(['--timeout', '2s', 'put', src, 'stuck.bin']);

    expect(put.code).not.toBe(0);
    expect(put.stderr).toMatch(/^cairn: .*no progress on the connection, for 2000 ms.*\n$/);
    expect(put.stderr.split('\n')).toHaveLength(2); // one line, then the final newline
    expect((await cluster.cli(['ls', 'stuck'])).stdout.toString()).toBe('');
  });
});
