import type { IncomingMessage, ServerResponse } from 'node:http';
import { CairnError, type Frame, type NodeInfo } from '@cairn/protocol';
import type { Reply, RpcPeer } from '@cairn/transfer';
import type { HealerCounters } from './healer';
import { createControllerMetrics } from './metrics';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The Prometheus text format, as a scraper reads it: `name{label="value",...} number` lines. */
function parseMetrics(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) types.set(type[1], type[2]);
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[key] = value;
    samples.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return { samples, types };
}

function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

const node = (id: string, state: NodeInfo['state'], used: number, zone: string | null = null): NodeInfo => ({
  id,
  address: `127.0.0.1:${7000 + id.length}`,
  zone,
  state,
  capacity: 1000,
  used,
  chunks: used / 10,
  lastSeen: 0,
});

function fakeSources() {
  const calls = { stats: 0, health: 0, gc: 0 };
  const counters: HealerCounters = { queued: 7, running: 2, copiedChunks: 11, copiedBytes: 11_534_336, deletedChunks: 5, waitingForRoom: 3 };
  let nodes = [node('n1', 'alive', 100, 'a'), node('n2', 'dead', 250, 'b'), node('n3', 'suspect', 30)];
  return {
    calls,
    counters,
    setNodes: (next: NodeInfo[]) => (nodes = next),
    sources: {
      catalog: {
        stats: async () => (calls.stats++, { files: 4, bytes: 4096, chunks: 6 }),
        replicationHealth: async (live: readonly string[]) => (calls.health++, { underReplicated: live.length === 2 ? 3 : 0, lost: 1 }),
        gcStats: async () => (calls.gc++, { pendingChunks: 9, unreferencedChunks: 2 }),
      },
      cluster: {
        list: () => nodes,
        healthyNodeIds: () => nodes.filter((n) => n.state === 'alive' || n.state === 'suspect').map((n) => n.id),
      },
      healer: { counters },
    },
  };
}

async function scrape(metrics: ReturnType<typeof createControllerMetrics>) {
  return parseMetrics(await metrics.registry.metrics());
}

describe('controller metrics', () => {
  it('exports the cluster totals, replication health, repair and GC progress, computed when scraped', async () => {
    const fake = fakeSources();
    const metrics = createControllerMetrics(fake.sources, { processMetrics: false });
    expect(fake.calls.stats).toBe(0); // nothing is computed before a scrape

    const { samples, types } = await scrape(metrics);
    expect(value(samples, 'cairn_catalog_files')).toBe(4);
    expect(value(samples, 'cairn_catalog_bytes')).toBe(4096);
    expect(value(samples, 'cairn_catalog_chunks')).toBe(6);
    expect(value(samples, 'cairn_chunks_under_replicated')).toBe(3);
    expect(value(samples, 'cairn_chunks_lost')).toBe(1);
    expect(value(samples, 'cairn_repair_queue_chunks')).toBe(7);
    expect(value(samples, 'cairn_repair_running_copies')).toBe(2);
    expect(value(samples, 'cairn_repair_waiting_for_room_chunks')).toBe(3);
    expect(value(samples, 'cairn_repair_copied_chunks_total')).toBe(11);
    expect(value(samples, 'cairn_repair_copied_bytes_total')).toBe(11_534_336);
    expect(value(samples, 'cairn_gc_pending_chunks')).toBe(9);
    expect(value(samples, 'cairn_gc_deleted_chunks_total')).toBe(5);
    expect(value(samples, 'cairn_nodes', { state: 'alive' })).toBe(1);
    expect(value(samples, 'cairn_nodes', { state: 'suspect' })).toBe(1);
    expect(value(samples, 'cairn_nodes', { state: 'dead' })).toBe(1);
    expect(value(samples, 'cairn_nodes', { state: 'draining' })).toBe(0);
    expect(types.get('cairn_repair_copied_bytes_total')).toBe('counter');
    expect(types.get('cairn_gc_deleted_chunks_total')).toBe('counter');
    expect(types.get('cairn_chunks_lost')).toBe('gauge');
  });

  it('asks the catalog once per scrape, whatever the number of gauges', async () => {
    const fake = fakeSources();
    const metrics = createControllerMetrics(fake.sources, { processMetrics: false });
    await scrape(metrics);
    expect(fake.calls).toEqual({ stats: 1, health: 1, gc: 1 });
    await scrape(metrics);
    expect(fake.calls).toEqual({ stats: 2, health: 2, gc: 2 });
  });

  it('follows the healer as it works: counters mirror its running totals', async () => {
    const fake = fakeSources();
    const metrics = createControllerMetrics(fake.sources, { processMetrics: false });
    await scrape(metrics);
    fake.counters.copiedBytes += 1_048_576;
    fake.counters.copiedChunks += 1;
    fake.counters.queued = 0;
    const { samples } = await scrape(metrics);
    expect(value(samples, 'cairn_repair_copied_bytes_total')).toBe(12_582_912);
    expect(value(samples, 'cairn_repair_copied_chunks_total')).toBe(12);
    expect(value(samples, 'cairn_repair_queue_chunks')).toBe(0);
  });

  it('exports every node\'s capacity, usage, chunks and state with a node label, and forgets a node no longer listed', async () => {
    const fake = fakeSources();
    const metrics = createControllerMetrics(fake.sources, { processMetrics: false });
    let { samples } = await scrape(metrics);
    expect(value(samples, 'cairn_cluster_node_capacity_bytes', { node: 'n1', zone: 'a' })).toBe(1000);
    expect(value(samples, 'cairn_cluster_node_used_bytes', { node: 'n2', zone: 'b' })).toBe(250);
    expect(value(samples, 'cairn_cluster_node_used_bytes', { node: 'n3', zone: '' })).toBe(30);
    expect(value(samples, 'cairn_cluster_node_chunks', { node: 'n1' })).toBe(10);
    expect(value(samples, 'cairn_cluster_node_state', { node: 'n2', state: 'dead' })).toBe(1);
    expect(value(samples, 'cairn_cluster_node_state', { node: 'n2', state: 'alive' })).toBeUndefined();

    fake.setNodes([node('n1', 'dead', 100, 'a')]);
    ({ samples } = await scrape(metrics));
    expect(samples.filter((s) => s.name === 'cairn_cluster_node_used_bytes').map((s) => s.labels['node'])).toEqual(['n1']);
    expect(value(samples, 'cairn_cluster_node_state', { node: 'n1', state: 'dead' })).toBe(1);
    expect(value(samples, 'cairn_cluster_node_state', { node: 'n1', state: 'alive' })).toBeUndefined();
  });

  it('times every request by message type and counts errors by type and code', async () => {
    const fake = fakeSources();
    const metrics = createControllerMetrics(fake.sources, { processMetrics: false });
    const handle = metrics.instrument(async (frame: Frame): Promise<Reply> => {
      if (frame.type === 'file.stat') throw new CairnError('E_NOT_FOUND', 'no such file');
      if (frame.type === 'file.remove') throw new Error('a bug');
      return { type: 'ack', body: {} };
    });
    const peer = {} as RpcPeer;
    const frame = (type: string) => ({ type, requestId: 1, body: {} }) as unknown as Frame;

    await handle(frame('nodes.list'), peer);
    await handle(frame('nodes.list'), peer);
    await expect(handle(frame('file.stat'), peer)).rejects.toMatchObject({ code: 'E_NOT_FOUND' });
    await expect(handle(frame('file.remove'), peer)).rejects.toThrow('a bug');

    const { samples, types } = await scrape(metrics);
    expect(types.get('cairn_rpc_request_duration_seconds')).toBe('histogram');
    expect(value(samples, 'cairn_rpc_request_duration_seconds_count', { type: 'nodes.list' })).toBe(2);
    expect(value(samples, 'cairn_rpc_request_duration_seconds_count', { type: 'file.stat' })).toBe(1);
    expect(value(samples, 'cairn_rpc_request_duration_seconds_bucket', { type: 'nodes.list', le: '+Inf' })).toBe(2);
    expect(value(samples, 'cairn_rpc_errors_total', { type: 'file.stat', code: 'E_NOT_FOUND' })).toBe(1);
    expect(value(samples, 'cairn_rpc_errors_total', { type: 'file.remove', code: 'E_INTERNAL' })).toBe(1);
    expect(value(samples, 'cairn_rpc_errors_total', { type: 'nodes.list' })).toBeUndefined();
  });

  it('includes the Node.js process metrics by default', async () => {
    const { samples } = await scrape(createControllerMetrics(fakeSources().sources));
    expect(value(samples, 'process_cpu_user_seconds_total')).toBeGreaterThanOrEqual(0);
    expect(value(samples, 'nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
  });

  it('serves the text format with its content type', async () => {
    const metrics = createControllerMetrics(fakeSources().sources, { processMetrics: false });
    let head: { status?: number; headers?: Record<string, unknown> } = {};
    let body = '';
    const response = {
      writeHead: (status: number, headers: Record<string, unknown>) => (head = { status, headers }),
      end: (text: string) => (body = text),
    } as unknown as ServerResponse;
    await metrics.serve({} as IncomingMessage, response, new URL('http://localhost/metrics'));
    expect(head.status).toBe(200);
    expect(String(head.headers?.['content-type'])).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(value(parseMetrics(body).samples, 'cairn_catalog_files')).toBe(4);
  });
});
