import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAIN, killHard, spawnProcess, waitForLog } from './support/processes';
import { TestCluster } from './support/test-cluster';
import { type TestCa, makeTestCa } from './support/tls';
import { writeRandomFile } from './support/files';

type App = 'controller' | 'node';

interface Outcome {
  code: number | null;
  /** Every line it wrote, stdout and stderr. */
  lines: string[];
  /** It got as far as listening (and was killed): the mistake was not caught. */
  started: boolean;
}

/**
 * DESIGN.md: "No stack traces for user errors". An operator's mistake in starting a controller or a
 * node (a flag, a variable, a config file, a file an option names) ends the process with one line
 * `cairn-<app>: <what is wrong>`, naming where the bad value came from, and exit 2 (usage); a failure
 * of the machine (a --data it may not make) with one line and exit 1. Never a stack, never the whole
 * --help.
 */
describe('start-up errors', () => {
  let dir: string;
  let tls: TestCa;
  /** A regular file, where a directory is wanted. */
  let afile: string;
  let otherCa: TestCa;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-startup-errors-'));
    await mkdir(join(dir, 'tls'));
    await mkdir(join(dir, 'other-tls'));
    await mkdir(join(dir, 'config-home'));
    tls = await makeTestCa(join(dir, 'tls'));
    otherCa = await makeTestCa(join(dir, 'other-tls'));
    afile = join(dir, 'afile');
    await writeFile(afile, 'not a directory\n');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** Starts an app in `dir` (no config file but the test's) and waits for it to exit; killed if it starts instead. */
  async function start(app: App, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Outcome> {
    const proc = spawnProcess(MAIN[app], args, { XDG_CONFIG_HOME: join(dir, 'config-home'), ...env });
    // Every line read: readline may hand over the last ones after 'exit', never after 'close'.
    const closed = new Promise((resolve) => proc.child.once('close', resolve));
    const listening = waitForLog(proc, (e) => / listening on /.test(String(e['msg'])), 60_000).then(
      () => true,
      () => false,
    );
    const started = await Promise.race([proc.exited.then(() => false), listening]);
    if (started) await killHard(proc);
    const { code } = await proc.exited;
    await closed;
    return { code, lines: proc.lines, started };
  }

  /** The one line said, after checking there is no other line but log lines, no stack, no --help. */
  function oneLine(app: App, outcome: Outcome, code: number): string {
    expect(outcome.started).toBe(false);
    expect(outcome.code).toBe(code);
    const said = outcome.lines.filter((line) => !isJson(line));
    expect(said.filter((line) => /^\s+at /.test(line))).toEqual([]);
    expect(said).toEqual([expect.stringMatching(new RegExp(`^cairn-${app}: \\S`))]);
    return said[0].slice(`cairn-${app}: `.length);
  }

  const data = (name: string) => ['--host', '127.0.0.1', '--port', '0', '--data', join(dir, 'data', name)];
  const configFile = async (name: string, contents: string) => {
    const path = join(dir, name);
    await writeFile(path, contents);
    return path;
  };

  describe.each(['controller', 'node'] as const)('%s', (app) => {
    const secret = { CAIRN_CLUSTER_SECRET: 'a-cluster-secret-of-32-characters' };

    it('refuses a --data that is a regular file (exit 2)', async () => {
      const said = oneLine(app, await start(app, ['--data', afile], secret), 2);
      expect(said).toBe(`${afile} (--data) is not a directory`);
      expect(oneLine(app, await start(app, ['--data', join(afile, 'sub')], secret), 2)).toBe(`${join(afile, 'sub')} (--data): part of the path is a file, not a directory`);
    });

    (existsSync('/sys/kernel') ? it : it.skip)('says in one line that a --data cannot be made where the system forbids it (exit 1)', async () => {
      const said = oneLine(app, await start(app, ['--data', '/sys/x'], secret), 1);
      expect(said).toMatch(/^cannot mkdir \/sys\/x: (operation not permitted|permission denied)$/);
    });

    it('refuses TLS files that do not go together: a key of another certificate, the two swapped, one missing (exit 2)', async () => {
      const flags = data(`${app}-tls`);
      expect(oneLine(app, await start(app, [...flags, '--tls-cert', tls.ca, '--tls-key', tls.key], secret), 2)).toBe(
        `the TLS key ${tls.key} (--tls-key) is not the key of the certificate ${tls.ca} (--tls-cert)`,
      );
      expect(oneLine(app, await start(app, [...flags, '--tls-cert', tls.cert, '--tls-key', otherCa.key], secret), 2)).toMatch(/is not the key of the certificate/);
      expect(oneLine(app, await start(app, [...flags, '--tls-cert', tls.key, '--tls-key', tls.cert], secret), 2)).toBe(
        `${tls.key} (--tls-cert) is not a PEM certificate: it holds a private key (are --tls-cert and --tls-key swapped?)`,
      );
      const missing = join(dir, 'missing.pem');
      expect(oneLine(app, await start(app, [...flags, '--tls-cert', missing, '--tls-key', tls.key], secret), 2)).toBe(
        `cannot read the TLS certificate ${missing} (--tls-cert): no such file or directory`,
      );
      expect(oneLine(app, await start(app, [...flags, '--tls-key', tls.key], { ...secret, CAIRN_TLS_CERT: tls.key }), 2)).toMatch(
        /^\S+ \(CAIRN_TLS_CERT\) is not a PEM certificate/,
      );
    });

    it('refuses an unknown flag, or a word that is no option, in one line pointing to --help (exit 2)', async () => {
      expect(oneLine(app, await start(app, [...data(`${app}-flags`), '--bogus', '1']), 2)).toBe(`unknown option --bogus (see cairn-${app} --help)`);
      expect(oneLine(app, await start(app, [...data(`${app}-flags`), 'extra-positional']), 2)).toBe(
        `unexpected argument "extra-positional": cairn-${app} takes options only (see cairn-${app} --help)`,
      );
      expect(oneLine(app, await start(app, [...data(`${app}-flags`), '--port']), 2)).toBe(`Not enough arguments following: port (see cairn-${app} --help)`);
    });

    it('refuses a config file that is not a JSON object of known options, naming the file and the key (exit 2)', async () => {
      const flags = data(`${app}-config`);
      expect(oneLine(app, await start(app, [...flags, '--config', '/dev/null']), 2)).toMatch(/^config file \/dev\/null: /);
      const array = await configFile(`${app}-array.json`, '["port", 7700]');
      expect(oneLine(app, await start(app, [...flags, '--config', array]), 2)).toBe(`config file ${array} must hold a JSON object`);
      const unknown = await configFile(`${app}-unknown.json`, '{"bogus": 1}');
      expect(oneLine(app, await start(app, [...flags], { CAIRN_CONFIG: unknown }), 2)).toMatch(new RegExp(`^config file ${unknown}: unknown key "bogus"`));
      const typed = await configFile(`${app}-typed.json`, '{"port": "abc"}');
      expect(oneLine(app, await start(app, ['--data', join(dir, 'data', app), '--config', typed]), 2)).toBe(`config file ${typed}: port must be a number, not a string`);
    });

    it('names where a bad value came from: the flag, the variable or the config file (exit 2)', async () => {
      const where = ['--data', join(dir, 'data', `${app}-values`)];
      expect(oneLine(app, await start(app, [...where], { CAIRN_PORT: 'abc' }), 2)).toBe('CAIRN_PORT must be 0-65535');
      expect(oneLine(app, await start(app, [...where, '--port', 'abc']), 2)).toBe('--port must be 0-65535');
      const config = await configFile(`${app}-port.json`, '{"port": 70000}');
      expect(oneLine(app, await start(app, [...where, '--config', config]), 2)).toBe(`port in config file ${config} must be 0-65535`);
    });

    it('refuses a cluster secret shorter than 16 characters (exit 2)', async () => {
      const said = oneLine(app, await start(app, data(`${app}-secret`), { CAIRN_CLUSTER_SECRET: 'short' }), 2);
      expect(said).toMatch(/^the cluster secret .*must be at least 16 characters/);
    });

    it('--help lists CAIRN_CONFIG and the precedence (exit 0)', async () => {
      const help = await start(app, ['--help']);
      expect(help.code).toBe(0);
      const text = help.lines.join('\n').replace(/\s+/g, ' ');
      expect(text).toMatch(/--config JSON config file with any of the options below \(CAIRN_CONFIG\)/);
      expect(text).toMatch(/A flag wins over the environment, the environment over the config file, the config file over the default/);
      expect(text).toMatch(/--port port for WebSocket \(\/ws\), \/healthz, \/readyz,? (and )?\/metrics/);
    });
  });

  describe('node', () => {
    const secret = { CAIRN_CLUSTER_SECRET: 'a-cluster-secret-of-32-characters' };

    it('refuses a --ca that cannot be read, or is no certificate, as the client does (exit 2)', async () => {
      const missing = join(dir, 'missing-ca.pem');
      expect(oneLine('node', await start('node', [...data('node-ca'), '--ca', missing], secret), 2)).toBe(`cannot read the CA file ${missing} (--ca): no such file or directory`);
      expect(oneLine('node', await start('node', [...data('node-ca'), '--ca', tls.key], secret), 2)).toBe(`${tls.key} (--ca) is not a PEM certificate`);
    });

    it('refuses a --capacity of 0 (exit 2)', async () => {
      expect(oneLine('node', await start('node', [...data('node-capacity'), '--capacity', '0'], secret), 2)).toBe('--capacity must be more than 0, got 0');
      expect(oneLine('node', await start('node', data('node-capacity'), { ...secret, CAIRN_CAPACITY: '0' }), 2)).toBe('CAIRN_CAPACITY must be more than 0, got 0');
    });

    describe('with chunks stored', () => {
      let cluster: TestCluster;
      beforeAll(async () => {
        cluster = await TestCluster.start({ nodes: 1, replicas: 1 });
      });
      afterAll(async () => {
        await cluster?.stop();
      });

      it('starts with a --capacity below what it stores, but says so in a warning', async () => {
        const file = join(cluster.root, 'a.bin');
        await writeRandomFile(file, 256 * 1024);
        expect((await cluster.cli(['put', file, 'a.bin'])).code).toBe(0);
        await cluster.killNode(0);

        const node = spawnProcess(MAIN.node, [
          '--host', '127.0.0.1', '--port', '0', '--data', cluster.nodes[0].data,
          '--controller', cluster.controllerAddress, '--cluster-secret-file', cluster.secretFile, '--capacity', '1KiB',
        ]);
        try {
          const warning = await waitForLog(node, (e) => /already stored/.test(String(e['msg'])));
          expect(warning).toMatchObject({ level: 40, capacity: 1024 });
          expect(warning['used']).toBeGreaterThanOrEqual(256 * 1024);
          expect(String(warning['msg'])).toMatch(/^--capacity 1024 is below the \d+ bytes already stored: this node takes no new chunks/);
          await waitForLog(node, (e) => / listening on /.test(String(e['msg']))); // it serves what it has
        } finally {
          await killHard(node);
        }
      });
    });
  });
});

function isJson(line: string): boolean {
  try {
    return typeof JSON.parse(line) === 'object';
  } catch {
    return false;
  }
}
