import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { type IncomingHttpHeaders, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestCluster, waitUntil } from './support/test-cluster';
import { MAIN, Spawned, spawnProcess, waitForLog } from './support/processes';
import { rawPeer } from './support/raw';

/**
 * What an operator sees of a running cluster without a client: the controller's log of failures and
 * healing, the node's readiness and registration, start-up errors, and the HTTP endpoints' lock-out.
 */

type Entry = Record<string, unknown>;
const WARN = 40;
const ERROR = 50;

const message = (pattern: RegExp) => (e: Entry) => typeof e['msg'] === 'string' && pattern.test(e['msg']);

/** A GET on a process's plain HTTP side; its status, headers and body. */
function httpGet(
  port: number,
  path: string,
  options: { authorization?: string; localAddress?: string } = {},
): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const headers = options.authorization ? { authorization: options.authorization } : {};
    const req = request({ host: '127.0.0.1', port, path, headers, localAddress: options.localAddress, agent: false, timeout: 5_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (part: string) => (body += part));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/** A node's readiness as its probes and metrics tell it: `/readyz` status and `cairn_node_registered`. */
async function nodeReadiness(port: number): Promise<{ readyz: number; registered: string | undefined }> {
  const [ready, metrics] = await Promise.all([httpGet(port, '/readyz'), httpGet(port, '/metrics')]);
  return { readyz: ready.status, registered: /^cairn_node_registered (\S+)$/m.exec(metrics.body)?.[1] };
}

async function putFile(cluster: TestCluster, name: string, flags: string[] = []): Promise<string[]> {
  const src = join(cluster.root, name.replace(/\//g, '_'));
  await writeFile(src, randomBytes(100_000));
  const put = await cluster.cli([...flags, 'put', src, name]);
  expect({ code: put.code, stderr: put.stderr }).toEqual({ code: 0, stderr: '' });
  return (await cluster.sdk.stat(name)).chunks[0].nodes;
}

describe('the controller logs failures and healing, one line per change', () => {
  let cluster: TestCluster;

  beforeAll(async () => {
    cluster = await TestCluster.start({ nodes: 3, replicas: 2, nodeTimeout: '3s' });
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it('a node killed with kill -9: suspect, then dead (a warning), the repair begun and done', async () => {
    const [holder] = await putFile(cluster, 'ops/two-copies.bin');
    const victim = cluster.nodes.find((n) => n.id === holder)!;
    await cluster.killNode(victim.index);

    const { controller } = cluster;
    await waitForLog(controller, (e) => e['node'] === victim.id && e['to'] === 'dead' && e['level'] === WARN);
    const begun = await waitForLog(controller, message(new RegExp(`^repair begun of ${victim.id}: \\d+ chunks? under-replicated$`)));
    expect(begun).toMatchObject({ level: WARN, nodes: [victim.id] });
    const done = await waitForLog(controller, message(/^repair done: full redundancy restored/), 30_000);
    expect(done['copiedChunks']).toBeGreaterThanOrEqual(1);

    const lines = controller.lines.map((l) => JSON.parse(l) as Entry);
    const about = (to: string) => lines.filter((e) => e['node'] === victim.id && e['to'] === to);
    expect([about('suspect').length, about('dead').length]).toEqual([1, 1]);
    // Only the lines about this node: on a loaded machine another node may miss heartbeats for the 3 s
    // node timeout, and its own repair lines come and go meanwhile.
    const aboutVictim = (e: Entry) => Array.isArray(e['nodes']) && e['nodes'].includes(victim.id);
    const repairs = lines.filter(aboutVictim).map((e) => /^repair (begun|done)/.exec(String(e['msg']))?.[1]).filter(Boolean);
    expect(repairs).toEqual(['begun', 'done']);
  });

  it('chunks with no healthy copy left: an error line, and another once the node holding them is back', async () => {
    const [holder] = await putFile(cluster, 'ops/one-copy.bin', ['--replicas', '1']);
    const node = cluster.nodes.find((n) => n.id === holder)!;
    await cluster.killNode(node.index);

    const lost = await waitForLog(cluster.controller, (e) => e['level'] === ERROR && typeof e['lost'] === 'number', 15_000);
    expect(lost['msg']).toMatch(/^\d+ chunks? lost: no healthy copy left/);

    await cluster.startNode(node.index);
    await waitForLog(cluster.controller, (e) => e['node'] === node.id && e['from'] === 'dead' && e['to'] === 'alive');
    await waitForLog(cluster.controller, message(/^no chunk is lost any more$/));
    // What an operator greps for is there, and no line holds the admin token.
    expect(cluster.controller.lines.filter((l) => /dead|suspect|repair|lost/i.test(l)).length).toBeGreaterThan(0);
    expect(cluster.controller.lines.join('\n')).not.toContain(cluster.adminToken);
  });
});

describe('a node and the controller, seen from outside', () => {
  let cluster: TestCluster;
  let scratch: string;

  beforeAll(async () => {
    cluster = await TestCluster.start({ nodes: 1 });
    scratch = await mkdtemp(join(tmpdir(), 'cairn-e2e-ops-'));
  });

  afterAll(async () => {
    await cluster?.stop();
    await rm(scratch, { recursive: true, force: true });
  });

  it('a port in use: one line naming the address, exit 2, no stack trace', async () => {
    const node = cluster.nodes[0];
    const starts: Array<[Spawned, string]> = [
      [spawnProcess(MAIN.controller, ['--host', '127.0.0.1', '--port', String(cluster.controllerPort), '--data', join(scratch, 'controller')]), `cairn-controller: cannot listen on 127.0.0.1:${cluster.controllerPort}: address already in use`],
      [
        spawnProcess(MAIN.node, ['--host', '127.0.0.1', '--port', String(node.port), '--data', join(scratch, 'node'), '--controller', cluster.controllerAddress, '--cluster-secret-file', cluster.secretFile]),
        `cairn-node: cannot listen on 127.0.0.1:${node.port}: address already in use`,
      ],
    ];
    for (const [second, line] of starts) {
      expect(await second.exited).toEqual({ code: 2, signal: null });
      expect(second.lines).toContain(line);
      expect(second.lines.filter((l) => /^\s+at |Error: listen/.test(l))).toEqual([]);
    }
  });

  it('wrong bearer tokens on /metrics count as failed authentications: the address is locked out of HTTP, not the WebSocket', async () => {
    const from = { localAddress: '127.0.0.7' };
    const wrong = `Bearer cairn_0123456789abcdef_${'A'.repeat(43)}`;
    for (let i = 0; i < 10; i++) expect((await httpGet(cluster.controllerPort, '/metrics', { ...from, authorization: wrong })).status).toBe(401);

    const admin = `Bearer ${cluster.adminToken}`;
    // Locked out, even with the right token: 429 with how long to wait, not "your token is wrong".
    const locked = await httpGet(cluster.controllerPort, '/api/overview', { ...from, authorization: admin });
    expect(locked.status).toBe(429);
    expect(Number(locked.headers['retry-after'])).toBeGreaterThan(0);
    expect(Number(locked.headers['retry-after'])).toBeLessThanOrEqual(60);
    // A scraper with a stale token must not lock the nodes and clients of its host out (on the quick
    // start they all come from 127.0.0.1): the WebSocket counts its failures apart.
    const peer = await rawPeer(cluster.controllerAddress, from);
    try {
      expect((await peer.request('session.auth', { token: cluster.adminToken })).type).toBe('session.info');
    } finally {
      peer.close();
    }
    // Other addresses carry on, and the probes and the page stay open to everyone.
    expect((await httpGet(cluster.controllerPort, '/metrics', { authorization: admin })).status).toBe(200);
    for (const path of ['/healthz', '/readyz', '/']) expect((await httpGet(cluster.controllerPort, path, from)).status).toBe(200);
  });

  it("a node's /readyz and cairn_node_registered follow its link to the controller", async () => {
    const { port } = cluster.nodes[0];
    expect(await nodeReadiness(port)).toEqual({ readyz: 200, registered: '1' });

    await cluster.killController();
    await waitUntil(async () => (await nodeReadiness(port)).readyz === 503, 10_000);
    expect(await nodeReadiness(port)).toEqual({ readyz: 503, registered: '0' });

    await cluster.startController();
    await waitUntil(async () => (await nodeReadiness(port)).readyz === 200, 15_000);
    expect(await nodeReadiness(port)).toEqual({ readyz: 200, registered: '1' });
  });
});
