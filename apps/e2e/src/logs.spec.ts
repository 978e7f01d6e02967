import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_CHUNK_SIZE } from '@cairn/protocol';
import { TestCluster, waitUntil } from './support/test-cluster';
import { MAIN, Spawned, killHard, runCli, spawnProcess, waitForLog } from './support/processes';

/**
 * Logs as an operator uses them (README, docs/architecture.md "Following one put through the logs"):
 * JSON lines by default and pretty lines only when asked, the client quiet unless asked, and one put
 * followed through the client's, the controller's and the nodes' logs by its upload id.
 */

type Entry = Record<string, unknown>;

/** The JSON log lines in a text (a process's lines, or the CLI's stderr). */
function entries(lines: string[] | string): Entry[] {
  const all = typeof lines === 'string' ? lines.split('\n') : lines;
  return all.filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Entry);
}

function waitForLine(proc: Spawned, pattern: RegExp, timeoutMs = 15_000): Promise<string> {
  return waitUntil(() => proc.lines.some((l) => pattern.test(l)), timeoutMs).then(
    () => proc.lines.find((l) => pattern.test(l)) as string,
    () => Promise.reject(new Error(`no line matching ${pattern}; got:\n${proc.lines.join('\n')}`)),
  );
}

describe('logs', () => {
  let cluster: TestCluster;

  beforeAll(async () => {
    // Nodes at debug: their 'chunk stored' lines are what names the upload on each node.
    cluster = await TestCluster.start({ nodes: 2, replicas: 2, nodeFlags: { 0: ['--log-level', 'debug'], 1: ['--log-level', 'debug'] } });
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it('are JSON lines by default', () => {
    for (const proc of [cluster.controller, ...cluster.nodes.map((n) => n.proc)]) {
      expect(proc.lines.length).toBeGreaterThan(0);
      for (const line of proc.lines) expect(() => JSON.parse(line)).not.toThrow();
    }
  });

  it('one put is followed through the client, the controller and every node by its upload id', async () => {
    const content = randomBytes(2 * DEFAULT_CHUNK_SIZE + 1000); // three chunks
    const src = join(cluster.root, 'followed.bin');
    await writeFile(src, content);

    const put = await cluster.cli(['--log-level', 'info', 'put', src, 'logs/followed.bin']);

    expect(put.code).toBe(0);
    expect(put.stdout.toString()).toBe(`stored logs/followed.bin (${content.length} bytes, 3 chunks, 2 replicas)\n`); // output unchanged
    const client = entries(put.stderr);
    const begun = client.find((e) => e['msg'] === 'upload begun');
    expect(begun).toMatchObject({ role: 'client', name: 'logs/followed.bin', uploadId: expect.any(String) });
    const uploadId = begun?.['uploadId'] as string;
    expect(client.map((e) => e['msg'])).toEqual(['command started', 'upload begun', 'file stored', 'command finished']);
    expect(client.find((e) => e['msg'] === 'file stored')).toMatchObject({ uploadId, size: content.length, chunks: 3 });

    // The controller names it when it commits the file.
    await waitForLog(cluster.controller, (e) => e['msg'] === 'file committed' && e['uploadId'] === uploadId);
    // Each node names it for each chunk it stored: 3 chunks × 2 replicas on 2 nodes.
    const stat = await cluster.sdk.stat('logs/followed.bin');
    const stored = cluster.nodes.flatMap((n) => entries(n.proc.lines).filter((e) => e['msg'] === 'chunk stored' && e['uploadId'] === uploadId).map((e) => ({ node: n.id, hash: e['hash'], bytes: e['bytes'] })));
    const expected = stat.chunks.flatMap((c) => c.nodes.map((node) => ({ node, hash: c.hash, bytes: c.size })));
    const order = (a: { node: string; hash: unknown }, b: { node: string; hash: unknown }) => `${a.node}${a.hash}`.localeCompare(`${b.node}${b.hash}`);
    expect(stored.sort(order)).toEqual(expected.sort(order));
  });

  it('the client logs nothing by default, and at debug tells how it connects, never its token', async () => {
    const quiet = await cluster.cli(['stat', 'logs/followed.bin']);
    expect({ code: quiet.code, stderr: quiet.stderr }).toEqual({ code: 0, stderr: '' });

    const chatty = await cluster.cli(['--log-level=debug', 'stat', 'logs/followed.bin']);
    expect(chatty.code).toBe(0);
    expect(chatty.stdout.toString()).toBe(quiet.stdout.toString());
    expect(entries(chatty.stderr).map((e) => e['msg'])).toEqual(
      expect.arrayContaining(['command started', 'connecting to the controller', 'connected and authenticated', 'command finished']),
    );
    const failed = await cluster.cli(['--log-level', 'info', 'stat', 'logs/none']);
    expect(failed.code).toBe(3);
    expect(entries(failed.stderr).at(-1)).toMatchObject({ msg: 'command failed', code: 'E_NOT_FOUND' });
    expect(failed.stderr.split('\n').at(-2)).toMatch(/^cairn: .*logs\/none.* \(E_NOT_FOUND\)$/); // the one-line reason still ends stderr

    const secrets = [cluster.adminToken, cluster.adminToken.split('_').slice(2).join('_'), readFileSync(cluster.secretFile, 'utf8').trim()];
    const everything = [chatty.stderr, failed.stderr, ...cluster.controller.lines, ...cluster.nodes.flatMap((n) => n.proc.lines)].join('\n');
    for (const secret of secrets) expect(everything.includes(secret)).toBe(false);
  });

  it('are pretty only when asked: --log-format pretty on a server, CAIRN_LOG_FORMAT on the client', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cairn-e2e-logs-'));
    const controller = spawnProcess(MAIN.controller, ['--host', '127.0.0.1', '--port', '0', '--data', join(dir, 'controller'), '--log-format', 'pretty']);
    try {
      const listening = await waitForLine(controller, /controller listening/);
      expect(() => JSON.parse(listening)).toThrow();
      expect(listening).toMatch(/INFO.*controller: controller listening on 127\.0\.0\.1:\d+/);
    } finally {
      await killHard(controller);
      await rm(dir, { recursive: true, force: true });
    }

    const pretty = await runCli(['--controller', cluster.controllerAddress, 'ls', 'logs/'], {
      cwd: cluster.root,
      env: { CAIRN_TOKEN: cluster.adminToken, CAIRN_LOG_FORMAT: 'pretty', CAIRN_LOG_LEVEL: 'info' },
    });
    expect(pretty.code).toBe(0);
    expect(pretty.stdout.toString()).toMatch(/logs\/followed\.bin/); // stdout is the command's, logs go to stderr
    expect(pretty.stderr).toMatch(/INFO.*client: command started/);
    expect(pretty.stderr.split('\n').filter((l) => l.startsWith('{'))).toEqual([]);
  });
});
