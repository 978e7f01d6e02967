import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { CairnClient } from '@cairn/transfer';
import { CliResult, MAIN, Spawned, killHard, runCli, spawnProcess, waitForLog } from './processes';

export interface TestClusterOptions {
  nodes?: number;
  replicas?: number;
  nodeTimeout?: string;
  gcGrace?: string;
  scrubInterval?: string;
  /** Per node index: extra flags (e.g. `--capacity`). */
  nodeFlags?: Record<number, string[]>;
  /** Extra controller flags (e.g. `--idle-timeout 2s`). */
  controllerFlags?: string[];
  /**
   * Serve wss:// and https:// with this certificate and key (controller and nodes), and trust `ca`
   * everywhere (nodes' `--ca`, the CLI's `--ca`, the SDK's `ca`). Null: plain ws://.
   */
  tls?: { cert: string; key: string; ca: string } | null;
}

export interface TestNode {
  index: number;
  data: string;
  proc: Spawned;
  port: number;
  id: string;
}

/**
 * A real cluster for one test file: a controller and N storage nodes as separate processes on
 * 127.0.0.1 with ports chosen by the OS and data in a temp directory removed by `stop()`.
 */
export class TestCluster {
  controller!: Spawned;
  controllerPort = 0;
  /** The admin token the controller generated into its data dir (clients find it there). */
  adminToken = '';
  readonly nodes: TestNode[] = [];
  private readonly clients: CairnClient[] = [];
  private shared: CairnClient | undefined;

  private constructor(
    readonly root: string,
    private readonly options: Required<TestClusterOptions>,
  ) {}

  static async start(options: TestClusterOptions = {}): Promise<TestCluster> {
    const root = await mkdtemp(join(tmpdir(), 'cairn-e2e-'));
    const cluster = new TestCluster(root, {
      nodes: 3,
      replicas: 2,
      nodeTimeout: '3s',
      gcGrace: '1h',
      scrubInterval: '1h',
      nodeFlags: {},
      controllerFlags: [],
      tls: null,
      ...options,
    });
    try {
      await cluster.startController();
      for (let i = 0; i < cluster.options.nodes; i++) await cluster.startNode(i);
      await cluster.waitForAliveNodes(cluster.options.nodes);
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  get controllerAddress(): string {
    return `${this.options.tls ? 'wss://' : ''}127.0.0.1:${this.controllerPort}`;
  }

  /** Starts (or restarts, on the same port and data) the controller. */
  async startController(): Promise<void> {
    this.controller = spawnProcess(MAIN.controller, [
      '--host', '127.0.0.1',
      '--port', String(this.controllerPort),
      '--data', join(this.root, 'controller'),
      '--replicas', String(this.options.replicas),
      '--node-timeout', this.options.nodeTimeout,
      '--gc-grace', this.options.gcGrace,
      ...(this.options.tls ? ['--tls-cert', this.options.tls.cert, '--tls-key', this.options.tls.key] : []),
      ...this.options.controllerFlags,
    ]);
    const ready = await waitForLog(this.controller, (e) => typeof e['msg'] === 'string' && e['msg'].startsWith('controller listening'));
    this.controllerPort = ready['port'] as number;
    this.adminToken = readFileSync(join(this.root, 'controller', 'admin-token'), 'utf8').trim();
  }

  async killController(): Promise<void> {
    await killHard(this.controller);
  }

  async startNode(index: number): Promise<TestNode> {
    const data = join(this.root, `node-${index}`);
    const previous = this.nodes[index];
    const proc = spawnProcess(MAIN.node, [
      '--host', '127.0.0.1',
      '--port', String(previous?.port ?? 0),
      '--data', data,
      '--controller', this.controllerAddress,
      '--cluster-secret-file', this.secretFile,
      '--scrub-interval', this.options.scrubInterval,
      ...(this.options.tls ? ['--tls-cert', this.options.tls.cert, '--tls-key', this.options.tls.key, '--ca', this.options.tls.ca] : []),
      ...(this.options.nodeFlags[index] ?? []),
    ]);
    // A node that never says it listens is not in `nodes` yet, so stop() would not find it: kill it here.
    const ready = await waitForLog(proc, (e) => typeof e['msg'] === 'string' && / listening on /.test(e['msg'])).catch(async (err: unknown) => {
      await killHard(proc);
      throw err;
    });
    const port = Number(String(ready['address']).split(':').pop());
    const node: TestNode = { index, data, proc, port, id: readFileSync(join(data, 'node-id'), 'utf8').trim() };
    this.nodes[index] = node;
    return node;
  }

  /** One shared SDK client for the harness's own questions (status, nodes, stat). */
  get sdk(): CairnClient {
    this.shared ??= this.client();
    return this.shared;
  }

  get secretFile(): string {
    return join(this.root, 'controller', 'cluster-secret');
  }

  async killNode(index: number): Promise<void> {
    await killHard(this.nodes[index].proc);
  }

  async waitForAliveNodes(count: number, timeoutMs = 15_000): Promise<void> {
    const client = this.sdk;
    await waitUntil(async () => (await client.nodesInfo().catch(() => [])).filter((n) => n.state === 'alive').length >= count, timeoutMs);
  }

  /** An SDK client closed by `stop()`. */
  client(token = this.adminToken): CairnClient {
    const client = new CairnClient({ controller: this.controllerAddress, token, ca: this.options.tls ? readFileSync(this.options.tls.ca) : undefined });
    this.clients.push(client);
    return client;
  }

  /** Runs the CLI against this cluster, from `cwd` (default: the cluster's temp dir); `readBytes` as runCli's. */
  cli(args: string[], options: { cwd?: string; input?: Buffer; token?: string; readBytes?: number } = {}): Promise<CliResult> {
    return runCli(['--controller', this.controllerAddress, ...(this.options.tls ? ['--ca', this.options.tls.ca] : []), ...args], {
      cwd: options.cwd ?? this.root,
      input: options.input,
      readBytes: options.readBytes,
      env: { CAIRN_TOKEN: options.token ?? this.adminToken },
    });
  }

  /**
   * A CLI `put - <name>` reading what the test writes to its stdin, to be killed midway: the process,
   * and its exit. Its output is ignored; writes still queued when it dies are dropped (EPIPE).
   */
  putFromStdin(name: string): { client: ChildProcessByStdio<Writable, null, null>; exited: Promise<unknown> } {
    const client = spawn(process.execPath, [MAIN.client, '--controller', this.controllerAddress, 'put', '-', name], {
      stdio: ['pipe', 'ignore', 'ignore'],
      env: { ...process.env, CAIRN_TOKEN: this.adminToken },
    });
    const exited = new Promise((resolve) => client.once('exit', resolve));
    client.stdin.on('error', () => undefined);
    return { client, exited };
  }

  /** Paths of a chunk's files on every node that holds it (the file name contains its hash). */
  async chunkFiles(hash: string): Promise<Array<{ node: TestNode; path: string }>> {
    const found: Array<{ node: TestNode; path: string }> = [];
    for (const node of this.nodes) {
      for (const path of await findFiles(node.data, (name) => name.includes(hash) && !name.endsWith('.tmp'))) found.push({ node, path });
    }
    return found;
  }

  async stop(): Promise<void> {
    await Promise.allSettled(this.clients.map((c) => c.close()));
    await Promise.allSettled([...this.nodes.map((n) => killHard(n.proc)), this.controller && killHard(this.controller)]);
    await rm(this.root, { recursive: true, force: true });
  }
}

export async function waitUntil(predicate: () => Promise<boolean> | boolean, timeoutMs: number, intervalMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

async function findFiles(dir: string, match: (name: string) => boolean): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await findFiles(path, match)));
    else if (match(entry.name)) out.push(path);
  }
  return out;
}
