import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CliResult } from './support/processes';
import { TestCluster, waitUntil } from './support/test-cluster';

/**
 * What the CLI tells an operator, through the real CLI against a real controller and 3 nodes: `token
 * list` as a table with dates, `token create` naming the prefix the controller gave the token, and a
 * `put -r` or `get -r` cut short by the controller's death saying what it had done and how to go on.
 */
describe('the CLI for an operator', () => {
  let cluster: TestCluster;

  beforeAll(async () => {
    cluster = await TestCluster.start({ nodes: 3, replicas: 2 });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  const json = (result: CliResult): unknown => JSON.parse(result.stdout.toString());
  const lines = (text: string) => text.split('\n').filter((line) => line !== '');
  const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

  describe('tokens', () => {
    it('token list: a table under a header, each token with its dates (ISO, as ls gives them)', async () => {
      const before = Date.now();
      const kept = json(await cluster.cli(['token', 'create', '--scope', 'read', '--json'])) as { id: string };
      const gone = json(await cluster.cli(['token', 'create', '--scope', 'write', '--prefix', 'w3/', '--json'])) as { id: string };
      expect((await cluster.cli(['token', 'revoke', gone.id])).code).toBe(0);

      const list = await cluster.cli(['token', 'list']);
      expect({ code: list.code, stderr: list.stderr }).toEqual({ code: 0, stderr: '' });
      const [header, ...rows] = lines(list.stdout.toString());
      expect(header.split(/\s+/)).toEqual(['ID', 'SCOPE', 'PREFIX', 'STATE', 'CREATED', 'REVOKED']);
      const row = (id: string) => rows.find((r) => r.startsWith(id))?.split(/\s+/);
      const [, keptScope, keptPrefix, keptState, keptCreated, keptRevoked] = row(kept.id) ?? [];
      expect([keptScope, keptPrefix, keptState, keptRevoked]).toEqual(['read', '*', 'active', '-']);
      expect(keptCreated).toMatch(ISO);
      expect(Date.parse(keptCreated)).toBeGreaterThanOrEqual(before - 1000);
      const [, goneScope, gonePrefix, goneState, goneCreated, goneRevoked] = row(gone.id) ?? [];
      expect([goneScope, gonePrefix, goneState]).toEqual(['write', 'w3/', 'revoked']);
      expect(goneCreated).toMatch(ISO);
      expect(goneRevoked).toMatch(ISO);
      expect(Date.parse(goneRevoked)).toBeGreaterThanOrEqual(Date.parse(goneCreated));
      // Each column starts at one place on every line: a table, not words apart.
      expect(new Set([header, ...rows].map((line) => line.indexOf(line.split(/\s+/)[4])))).toHaveProperty('size', 1);
    });

    it('token create names the prefix the controller gave the token: an admin limited to w2/ makes tokens limited to w2/', async () => {
      const team = json(await cluster.cli(['token', 'create', '--scope', 'admin', '--prefix', 'w2/', '--json'])) as { id: string; token: string; prefix: string };
      expect(team.prefix).toBe('w2/');

      const made = await cluster.cli(['token', 'create', '--scope', 'read'], { token: team.token });
      expect({ code: made.code, stderr: made.stderr }).toEqual({ code: 0, stderr: '' });
      const [said, secret, shownOnce] = lines(made.stdout.toString());
      const id = /^token ([0-9a-f]{16}) \(read, names under "w2\/"\):$/.exec(said)?.[1];
      expect(id).toBeDefined();
      expect(secret).toMatch(/^cairn_/);
      expect(shownOnce).toBe('It is shown only now: store it as a secret.');
      // As token list has it.
      const listed = json(await cluster.cli(['token', 'list', '--json'])) as Array<{ id: string; prefix: string | null }>;
      expect(listed.find((t) => t.id === id)?.prefix).toBe('w2/');

      const viaJson = json(await cluster.cli(['token', 'create', '--scope', 'write', '--json'], { token: team.token }));
      expect(viaJson).toEqual({ id: expect.stringMatching(/^[0-9a-f]{16}$/), token: expect.stringMatching(/^cairn_/), prefix: 'w2/' });

      const asked = await cluster.cli(['token', 'create', '--scope', 'write', '--prefix', 'w2/w3/'], { token: team.token });
      expect(lines(asked.stdout.toString())[0]).toMatch(/^token [0-9a-f]{16} \(write, names under "w2\/w3\/"\):$/);
      const everyName = await cluster.cli(['token', 'create', '--scope', 'read']);
      expect(lines(everyName.stdout.toString())[0]).toMatch(/^token [0-9a-f]{16} \(read, every name\):$/);
    });
  });

  describe('a tree transfer cut short by the controller\'s death', () => {
    const FILES = 1500;
    const stoppedPut = /^cairn: put -r stored (\d+) files? \((.+)\) before it stopped; running the same command again resumes: it skips the chunks already stored$/;

    /** A tree of FILES small files, each of its own content. */
    async function makeTree(dir: string): Promise<void> {
      await mkdir(dir, { recursive: true });
      for (let i = 0; i < FILES; i++) await writeFile(join(dir, `f${String(i).padStart(4, '0')}`), `file ${i} of a tree\n`.repeat(50));
    }

    /** Runs the CLI, kills the controller once `started` holds, then brings it back with every node. */
    async function killedMidway(args: string[], started: () => Promise<boolean>): Promise<CliResult> {
      let ended: CliResult | undefined;
      const running = cluster.cli(args).then((result) => (ended = result));
      await waitUntil(async () => ended !== undefined || (await started()), 60_000, 20);
      // Ended before the kill: nothing here to test, and what it said tells why.
      expect(ended && { code: ended.code, stderr: ended.stderr }).toBeUndefined();
      await cluster.killController();
      const result = await running;
      await cluster.startController();
      await cluster.waitForAliveNodes(3, 30_000);
      return result;
    }

    /** Whether the cluster lists a file under `prefix` yet. */
    const anyUnder = async (prefix: string) => {
      for await (const file of cluster.sdk.ls(prefix)) return file !== undefined;
      return false;
    };
    const listed = async (prefix: string) => (json(await cluster.cli(['ls', prefix, '--json'])) as unknown[]).length;

    it.each([
      ['human output', []],
      ['--json', ['--json']],
    ])('put -r (%s): stdout empty; stderr says how many files and bytes were stored and that running it again resumes, then the error line; run again, it ends the tree', async (_label, flags) => {
      const prefix = `trees/${flags.length > 0 ? 'json' : 'human'}`;
      const dir = join(cluster.root, prefix);
      await makeTree(dir);

      const cut = await killedMidway(['put', '-r', dir, prefix, ...flags], () => anyUnder(`${prefix}/`));

      expect(cut.code).toBe(5);
      expect(cut.stdout.toString()).toBe('');
      const said = lines(cut.stderr);
      expect(said).toHaveLength(2);
      const [, stored, bytes] = stoppedPut.exec(said[0]) ?? [];
      expect(stored).toBeDefined();
      expect(Number(stored)).toBeGreaterThan(0);
      expect(Number(stored)).toBeLessThan(FILES);
      expect(bytes).toMatch(/^\d+(\.\d)? (B|KiB|MiB)$/);
      expect(said[1]).toMatch(/^cairn: .*\(E_UNAVAILABLE\)$/);
      // What it said was stored is there, across the controller's death.
      expect(await listed(`${prefix}/`)).toBeGreaterThanOrEqual(Number(stored));

      const again = await cluster.cli(['put', '-r', dir, prefix, ...flags]);
      expect({ code: again.code, stderr: again.stderr }).toEqual({ code: 0, stderr: '' });
      if (flags.length > 0) expect(json(again)).toMatchObject({ files: FILES });
      else expect(again.stdout.toString()).toMatch(new RegExp(`^stored ${FILES} files \\(`));
      expect(await listed(`${prefix}/`)).toBe(FILES);
    });

    it('get -r: stdout empty; stderr says how many files it fetched, each whole, and that running it again fetches them all', async () => {
      const out = join(cluster.root, 'fetched');
      const cut = await killedMidway(['get', '-r', 'trees/human', out], async () => (await readdir(out).catch(() => [])).filter((name) => name.startsWith('f')).length > 0);

      expect(cut.code).toBe(5);
      expect(cut.stdout.toString()).toBe('');
      const said = lines(cut.stderr);
      expect(said).toHaveLength(2);
      const fetched = /^cairn: get -r fetched (\d+) files? \(.+\) before it stopped, each one whole; running the same command again fetches them all again$/.exec(said[0])?.[1];
      expect(Number(fetched)).toBeGreaterThan(0);
      expect(Number(fetched)).toBeLessThan(FILES);
      expect(said[1]).toMatch(/^cairn: .*\(E_UNAVAILABLE\)$/);
      // Whole files only: no temp file left, and at least as many as it said.
      const written = await readdir(out);
      expect(written.filter((name) => !/^f\d{4}$/.test(name))).toEqual([]);
      expect(written.length).toBeGreaterThanOrEqual(Number(fetched));

      const again = await cluster.cli(['get', '-r', 'trees/human', out]);
      expect({ code: again.code, stderr: again.stderr }).toEqual({ code: 0, stderr: '' });
      expect(await readdir(out)).toHaveLength(FILES);
    });
  });
});
