import { CairnError, type Frame } from '@cairn/protocol';
import type { Reply, RpcPeer } from '@cairn/transfer';
import { createNodeMetrics } from './metrics';

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

const HASH = 'ab'.repeat(32);
const peer = {} as RpcPeer;
const put = (size: number) => ({ type: 'chunk.put', requestId: 1, hash: HASH, payload: new Uint8Array(size) }) as Frame;
const control = (type: string, body: object) => ({ type, requestId: 2, body }) as unknown as Frame;

function setup() {
  const usage = { used: 300, capacity: 10_000, chunks: 3 };
  let registered = false;
  let stats = 0;
  const inbound = { heldBytes: 0, isOver: false };
  const unchecked = { heldBytes: 0, refused: 0, dropped: 0 };
  const metrics = createNodeMetrics(
    {
      store: { stats: () => (stats++, { ...usage }) },
      registered: () => registered,
      inbound,
      unchecked,
    },
    { processMetrics: false },
  );
  /** A chunk service stand-in: stores anything, serves 2 KiB chunks, refuses unknown hashes. */
  const handle = metrics.instrument(async (frame: Frame): Promise<Reply> => {
    switch (frame.type) {
      case 'chunk.put':
        if (frame.payload.length === 0) throw new CairnError('E_HASH_MISMATCH', 'empty is not this hash');
        return { type: 'chunk.stored', body: { hash: frame.hash, size: frame.payload.length, stored: true } };
      case 'chunk.get':
        if (frame.body.hash !== HASH) throw new CairnError('E_NOT_FOUND', 'no such chunk');
        return { type: 'chunk.data', hash: HASH, payload: new Uint8Array(2048) };
      case 'chunk.replicate':
        return { type: 'chunk.stored', body: { hash: frame.body.hash, size: frame.body.size, stored: true } };
      default:
        throw new Error('unexpected');
    }
  });
  return {
    usage,
    inbound,
    unchecked,
    handle,
    instrument: metrics.instrument,
    statsCalls: () => stats,
    setRegistered: (value: boolean) => (registered = value),
    scrape: async () => parseMetrics(await metrics.registry.metrics()),
  };
}

describe('node metrics', () => {
  it('reads capacity, usage and chunks from the store when scraped, not before', async () => {
    const node = setup();
    expect(node.statsCalls()).toBe(0);
    let { samples } = await node.scrape();
    expect(value(samples, 'cairn_node_capacity_bytes')).toBe(10_000);
    expect(value(samples, 'cairn_node_used_bytes')).toBe(300);
    expect(value(samples, 'cairn_node_chunks')).toBe(3);
    node.usage.used = 1300;
    node.usage.chunks = 4;
    ({ samples } = await node.scrape());
    expect(value(samples, 'cairn_node_used_bytes')).toBe(1300);
    expect(value(samples, 'cairn_node_chunks')).toBe(4);
  });

  it('says whether the node is registered', async () => {
    const node = setup();
    expect(value((await node.scrape()).samples, 'cairn_node_registered')).toBe(0);
    node.setRegistered(true);
    expect(value((await node.scrape()).samples, 'cairn_node_registered')).toBe(1);
  });

  it('reports the request bytes held against the inbound budget, and whether reading is paused', async () => {
    const node = setup();
    let { samples } = await node.scrape();
    expect(value(samples, 'cairn_node_inbound_held_bytes')).toBe(0);
    expect(value(samples, 'cairn_node_inbound_paused')).toBe(0);
    Object.assign(node.inbound, { heldBytes: 70_000_000, isOver: true });
    ({ samples } = await node.scrape());
    expect(value(samples, 'cairn_node_inbound_held_bytes')).toBe(70_000_000);
    expect(value(samples, 'cairn_node_inbound_paused')).toBe(1);
  });

  it('reports the bytes of unchecked messages held, how many were refused for want of room, and how many dropped to make it', async () => {
    const node = setup();
    const first = await node.scrape();
    expect(value(first.samples, 'cairn_node_unchecked_held_bytes')).toBe(0);
    expect(value(first.samples, 'cairn_node_unchecked_refused_total')).toBe(0);
    expect(value(first.samples, 'cairn_node_unchecked_dropped_total')).toBe(0);
    expect(first.types.get('cairn_node_unchecked_refused_total')).toBe('counter');
    Object.assign(node.unchecked, { heldBytes: 5_000_000, refused: 3, dropped: 2 });
    const { samples } = await node.scrape();
    expect(value(samples, 'cairn_node_unchecked_held_bytes')).toBe(5_000_000);
    expect(value(samples, 'cairn_node_unchecked_refused_total')).toBe(3);
    expect(value(samples, 'cairn_node_unchecked_dropped_total')).toBe(2);
  });

  it('starts every traffic counter at zero', async () => {
    const { samples, types } = await setup().scrape();
    expect(value(samples, 'cairn_node_bytes_in_total', { type: 'chunk.put' })).toBe(0);
    expect(value(samples, 'cairn_node_chunks_in_total', { type: 'chunk.replicate' })).toBe(0);
    expect(value(samples, 'cairn_node_bytes_out_total', { type: 'chunk.get' })).toBe(0);
    expect(value(samples, 'cairn_node_chunks_out_total', { type: 'chunk.get' })).toBe(0);
    expect(types.get('cairn_node_bytes_in_total')).toBe('counter');
  });

  it('counts chunk bytes and chunks in (put, replicate) and out (chunk.data replies)', async () => {
    const node = setup();
    await node.handle(put(1000), peer);
    await node.handle(put(24), peer);
    await node.handle(control('chunk.get', { hash: HASH }), peer);
    await node.handle(control('chunk.replicate', { hash: HASH, size: 4096, source: { id: 'n2', address: 'x:1' } }), peer);
    const { samples } = await node.scrape();
    expect(value(samples, 'cairn_node_bytes_in_total', { type: 'chunk.put' })).toBe(1024);
    expect(value(samples, 'cairn_node_chunks_in_total', { type: 'chunk.put' })).toBe(2);
    expect(value(samples, 'cairn_node_bytes_in_total', { type: 'chunk.replicate' })).toBe(4096);
    expect(value(samples, 'cairn_node_chunks_in_total', { type: 'chunk.replicate' })).toBe(1);
    expect(value(samples, 'cairn_node_bytes_out_total', { type: 'chunk.get' })).toBe(2048);
    expect(value(samples, 'cairn_node_chunks_out_total', { type: 'chunk.get' })).toBe(1);
  });

  it('counts only the chunks it takes in: puts refused for their grant move no traffic counter', async () => {
    const node = setup();
    const refuse = node.instrument(async () => {
      throw new CairnError('E_FORBIDDEN', 'grant signature invalid');
    });
    for (let i = 0; i < 3; i++) await expect(refuse(put(4096), peer)).rejects.toMatchObject({ code: 'E_FORBIDDEN' });
    await node.handle(put(1000), peer);
    const { samples } = await node.scrape();
    expect(value(samples, 'cairn_node_chunks_in_total', { type: 'chunk.put' })).toBe(1);
    expect(value(samples, 'cairn_node_bytes_in_total', { type: 'chunk.put' })).toBe(1000);
    expect(value(samples, 'cairn_rpc_errors_total', { type: 'chunk.put', code: 'E_FORBIDDEN' })).toBe(3);
  });

  it('times requests per message type and counts errors by type and code', async () => {
    const node = setup();
    await node.handle(put(10), peer);
    await expect(node.handle(put(0), peer)).rejects.toMatchObject({ code: 'E_HASH_MISMATCH' });
    await expect(node.handle(control('chunk.get', { hash: 'cd'.repeat(32) }), peer)).rejects.toMatchObject({ code: 'E_NOT_FOUND' });
    await expect(node.handle(control('chunk.has', { hashes: [] }), peer)).rejects.toThrow('unexpected');
    const { samples, types } = await node.scrape();
    expect(types.get('cairn_rpc_request_duration_seconds')).toBe('histogram');
    expect(value(samples, 'cairn_rpc_request_duration_seconds_count', { type: 'chunk.put' })).toBe(2);
    expect(value(samples, 'cairn_rpc_request_duration_seconds_count', { type: 'chunk.get' })).toBe(1);
    expect(value(samples, 'cairn_rpc_errors_total', { type: 'chunk.put', code: 'E_HASH_MISMATCH' })).toBe(1);
    expect(value(samples, 'cairn_rpc_errors_total', { type: 'chunk.get', code: 'E_NOT_FOUND' })).toBe(1);
    expect(value(samples, 'cairn_rpc_errors_total', { type: 'chunk.has', code: 'E_INTERNAL' })).toBe(1);
    expect(value(samples, 'cairn_node_chunks_in_total', { type: 'chunk.put' })).toBe(1); // the refused put is not one
    expect(value(samples, 'cairn_node_bytes_out_total', { type: 'chunk.get' })).toBe(0);
  });

  it('includes the Node.js process metrics by default', async () => {
    const metrics = createNodeMetrics({ store: { stats: () => ({ used: 0, capacity: 0, chunks: 0 }) }, registered: () => true, inbound: { heldBytes: 0, isOver: false }, unchecked: { heldBytes: 0, refused: 0, dropped: 0 } });
    const { samples } = parseMetrics(await metrics.registry.metrics());
    expect(value(samples, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(value(samples, 'nodejs_eventloop_lag_seconds')).toBeGreaterThanOrEqual(0);
  });
});
