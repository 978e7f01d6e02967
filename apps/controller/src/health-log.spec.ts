import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import type { NodeInfo, NodeState } from '@cairn/protocol';
import { openSqliteCatalog } from '@cairn/registry';
import { Cluster } from './cluster';
import { Healer } from './healer';
import { HealthLog } from './health-log';
import { GrantSigner } from './security/grant-signer';

type Line = { level: number; msg: string } & Record<string, unknown>;
const WARN = 40;
const ERROR = 50;

/** A cluster of nodes whose states, and a catalog whose health, the test sets; the lines logged. */
function setup(ids: string[]) {
  const states = new Map<string, NodeState>(ids.map((id) => [id, 'alive']));
  const health = { underReplicated: 0, lost: 0 };
  const counters = { queued: 0, running: 0, copiedChunks: 0, copiedBytes: 0, deletedChunks: 0, waitingForRoom: 0 };
  let clock = 0;
  let reads = 0;
  const lines: Line[] = [];
  const list = (): NodeInfo[] =>
    [...states].map(([id, state]) => ({ id, address: `127.0.0.1:${id}`, zone: null, state, capacity: 1, used: 0, chunks: 0, lastSeen: 0 }));
  const log = new HealthLog({
    cluster: { list, healthyNodeIds: () => list().filter((n) => n.state === 'alive' || n.state === 'suspect').map((n) => n.id) },
    catalog: { replicationHealth: async () => (reads++, { ...health }) },
    healer: { counters },
    log: pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Line) }),
    now: () => clock,
  });
  return {
    states,
    health,
    counters,
    lines,
    reads: () => reads,
    advance: (ms: number) => (clock += ms),
    /** Checks `times` times, as the timer would, and gives the lines logged meanwhile. */
    check: async (times = 1) => {
      const before = lines.length;
      for (let i = 0; i < times; i++) await log.check();
      return lines.slice(before);
    },
  };
}

describe('the health log', () => {
  it('logs each change of a node state once, the death as a warning, and nothing for checks that see no change', async () => {
    const cluster = setup(['n1', 'n2']);
    expect(await cluster.check(3)).toEqual([]); // first seen: registration said so

    cluster.states.set('n1', 'suspect');
    expect(await cluster.check(3)).toEqual([expect.objectContaining({ level: 30, node: 'n1', from: 'alive', to: 'suspect', msg: 'node n1 is suspect (was alive)' })]);
    cluster.states.set('n1', 'dead');
    const [dead] = await cluster.check(3);
    expect(dead).toMatchObject({ level: WARN, node: 'n1', address: '127.0.0.1:n1', from: 'suspect', to: 'dead' });
    expect(dead.msg).toMatch(/^node n1 is dead/);
    cluster.states.set('n1', 'alive');
    expect(await cluster.check(3)).toEqual([expect.objectContaining({ level: 30, from: 'dead', to: 'alive', msg: 'node n1 is alive (was dead)' })]);
  });

  it('logs a repair when it begins, with the node and the counts, and once more when redundancy is full again', async () => {
    const cluster = setup(['n1', 'n2', 'n3']);
    await cluster.check();
    cluster.states.set('n1', 'dead');
    Object.assign(cluster.health, { underReplicated: 40 });
    const begun = (await cluster.check()).find((l) => l.msg.startsWith('repair'));
    expect(begun).toMatchObject({ level: WARN, msg: 'repair begun of n1: 40 chunks under-replicated', underReplicated: 40, lost: 0, nodes: ['n1'] });

    // Copies go on: no line per copy or per check.
    for (let copied = 10; copied <= 30; copied += 10) {
      Object.assign(cluster.counters, { copiedChunks: copied, copiedBytes: copied * 1000 });
      cluster.health.underReplicated = 40 - copied;
      cluster.advance(1000);
      expect(await cluster.check()).toEqual([]);
    }
    // Another node down mid-way: its own line.
    cluster.states.set('n2', 'draining');
    expect((await cluster.check()).map((l) => l.msg)).toEqual(['node n2 is draining (was alive)', 'repair begun of n2: 10 chunks under-replicated']);

    Object.assign(cluster.counters, { copiedChunks: 50, copiedBytes: 50_000 });
    cluster.health.underReplicated = 0;
    cluster.advance(1500);
    const [done] = await cluster.check(3);
    expect(done).toMatchObject({ level: 30, copiedChunks: 50, copiedBytes: 50_000, seconds: 4.5, nodes: ['n1', 'n2'] });
    expect(done.msg).toBe('repair done: full redundancy restored (50 chunk copies made in 4.5 s)');
    expect(await cluster.check(3)).toEqual([]);
  });

  it('logs an error when chunks become lost, again when their count changes, and when none is lost any more', async () => {
    const cluster = setup(['n1', 'n2']);
    await cluster.check();
    cluster.states.set('n1', 'dead');
    Object.assign(cluster.health, { underReplicated: 3, lost: 3 });
    const lost = (await cluster.check(3)).filter((l) => l.msg.includes('lost'));
    expect(lost).toEqual([expect.objectContaining({ level: ERROR, lost: 3, was: 0 })]);
    expect(lost[0].msg).toMatch(/^3 chunks lost: no healthy copy left/);

    cluster.states.set('n2', 'dead');
    Object.assign(cluster.health, { underReplicated: 5, lost: 5 });
    expect((await cluster.check(3)).filter((l) => l.level === ERROR)).toEqual([expect.objectContaining({ lost: 5, was: 3 })]);

    cluster.states.set('n1', 'alive');
    cluster.states.set('n2', 'alive');
    Object.assign(cluster.health, { underReplicated: 0, lost: 0 });
    const back = await cluster.check(3);
    expect(back.filter((l) => /lost/.test(l.msg))).toEqual([expect.objectContaining({ level: 30, msg: 'no chunk is lost any more', lost: 0, was: 5 })]);
  });

  it('says nothing of the start-up grace after a restart ending, and logs every later change', async () => {
    const cluster = setup(['n1', 'n2', 'n3']);
    for (const id of ['n1', 'n2', 'n3']) cluster.states.set(id, 'suspect'); // as Cluster.load leaves them
    expect(await cluster.check()).toEqual([]);

    cluster.states.set('n1', 'alive'); // its first heartbeat
    expect(await cluster.check()).toEqual([]);
    cluster.states.set('n1', 'suspect');
    expect((await cluster.check()).map((l) => l.msg)).toEqual(['node n1 is suspect (was alive)']);
    cluster.states.set('n1', 'alive');
    expect((await cluster.check()).map((l) => l.msg)).toEqual(['node n1 is alive (was suspect)']);

    // One that never came back: its death is news, and so is its return.
    cluster.states.set('n2', 'dead');
    expect((await cluster.check()).filter((l) => l['node'] === 'n2')).toEqual([expect.objectContaining({ level: WARN, from: 'suspect', to: 'dead' })]);
    cluster.states.set('n2', 'alive');
    expect((await cluster.check()).filter((l) => l['node'] === 'n2').map((l) => l.msg)).toEqual(['node n2 is alive (was dead)']);
  });

  it('counts one chunk in the singular', async () => {
    const cluster = setup(['n1', 'n2']);
    await cluster.check();
    cluster.states.set('n1', 'dead');
    Object.assign(cluster.health, { underReplicated: 1, lost: 1 });
    const msgs = (await cluster.check()).map((l) => l.msg);
    expect(msgs).toContain('repair begun of n1: 1 chunk under-replicated');
    expect(msgs.find((m) => m.includes('lost'))).toMatch(/^1 chunk lost: no healthy copy left/);

    Object.assign(cluster.counters, { copiedChunks: 1, copiedBytes: 1000 });
    Object.assign(cluster.health, { underReplicated: 0, lost: 0 });
    expect((await cluster.check()).map((l) => l.msg)).toContain('repair done: full redundancy restored (1 chunk copy made in 0 s)');
  });

  it('reads replication health only when the healthy nodes change while nothing is wrong', async () => {
    const cluster = setup(['n1', 'n2']);
    await cluster.check(5);
    expect(cluster.reads()).toBe(1);
    cluster.states.set('n1', 'suspect'); // still healthy: its copies count
    await cluster.check(5);
    expect(cluster.reads()).toBe(1);
    cluster.states.set('n1', 'dead');
    await cluster.check();
    expect(cluster.reads()).toBe(2);
  });
});

describe('the healer and the health log', () => {
  it('has the health log look at the start of each pass, before the pass plans any repair', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cairn-health-log-'));
    const catalog = await openSqliteCatalog({ path: join(dir, 'catalog.db') });
    try {
      const cluster = await Cluster.load(catalog, 60_000);
      const grants = new GrantSigner(generateKeyPairSync('ed25519').privateKey);
      const healer = new Healer({ catalog, cluster, log: pino({ level: 'silent' }), gcGraceMs: 1_000, grants, repairConcurrency: 1, repairBytesPerSecond: 0, intervalMs: 60_000 });
      const order: string[] = [];
      const plan = catalog.underReplicatedChunks.bind(catalog);
      jest.spyOn(catalog, 'underReplicatedChunks').mockImplementation((args) => (order.push('plan'), plan(args)));
      healer.observePasses(async () => void order.push('observed'));

      await healer.pass();
      await healer.pass();
      expect(order).toEqual(['observed', 'plan', 'observed', 'plan']);
    } finally {
      await catalog.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
