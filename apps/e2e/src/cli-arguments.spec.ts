import { mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PROTOCOL_VERSION } from '@cairn/protocol';
import { CliResult, runCli } from './support/processes';
import { TestCluster } from './support/test-cluster';

/**
 * The CLI's arguments end to end, through the built client against a real cluster: `--` and names
 * that start with `-`, what `put -r`/`get -r` require, the environment and the config file, and the
 * one-line usage errors (exit status 2, `(E_USAGE)`).
 */
describe('CLI arguments', () => {
  let cluster: TestCluster;

  beforeAll(async () => {
    cluster = await TestCluster.start({ nodes: 2, replicas: 1 });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  /** The CLI with `env` as its CAIRN_* environment (the admin token besides), from the cluster's directory. */
  const cliWithEnv = (args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> =>
    runCli(['--controller', cluster.controllerAddress, ...args], { cwd: cluster.root, env: { CAIRN_TOKEN: cluster.adminToken, ...env } });

  /** A usage error: status 2 and one line on stderr, `cairn: <message> (E_USAGE)`; returns the message. */
  function usageError(result: CliResult): string {
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^cairn: [^\n]* \(E_USAGE\)\n$/);
    return result.stderr.slice('cairn: '.length, -' (E_USAGE)\n'.length);
  }

  const text = (result: CliResult) => result.stdout.toString();

  describe('after --, every word is an argument', () => {
    it('put report.txt -- -draft stores -draft and leaves report.txt as it was', async () => {
      expect((await cluster.cli(['put', '-', 'report.txt'], { input: Buffer.from('the stored report') })).code).toBe(0);
      await writeFile(join(cluster.root, 'report.txt'), 'the local draft');

      const put = await cluster.cli(['--json', 'put', 'report.txt', '--', '-draft']);
      expect(put.stderr).toBe('');
      expect(JSON.parse(text(put))).toMatchObject({ name: '-draft' });

      expect(text(await cluster.cli(['cat', 'report.txt']))).toBe('the stored report');
      expect(text(await cluster.cli(['cat', '--', '-draft']))).toBe('the local draft');
    });

    it('stat, get, ls and rm reach a name that starts with -', async () => {
      expect((await cluster.cli(['put', '-', '--', '-lead'], { input: Buffer.from('lead') })).code).toBe(0);

      const stat = await cluster.cli(['--json', 'stat', '--', '-lead']);
      expect(stat.code).toBe(0);
      expect(JSON.parse(text(stat))).toMatchObject({ name: '-lead', size: 4 });

      const dest = join(cluster.root, 'lead-copy');
      expect((await cluster.cli(['get', '--', '-lead', dest])).code).toBe(0);
      expect(await readFile(dest, 'utf8')).toBe('lead');

      const ls = await cluster.cli(['--json', 'ls', '--', '-le']);
      expect((JSON.parse(text(ls)) as Array<{ name: string }>).map((f) => f.name)).toEqual(['-lead']);

      expect((await cluster.cli(['rm', '--', '-lead'])).code).toBe(0);
      expect((await cluster.cli(['stat', '--', '-lead'])).code).toBe(3);
    });

    it('a word a command does not take is refused, before or after --', async () => {
      expect(usageError(await cluster.cli(['nodes', 'extra']))).toBe('nodes takes no argument "extra" there (cairn nodes)');
      expect(usageError(await cluster.cli(['cat', 'report.txt', '--', 'more']))).toBe('cat takes no argument "more" there (cairn cat <name>)');
    });
  });

  describe('put -r and get -r', () => {
    it('refuse - or "" for the directory, and store nothing', async () => {
      expect(usageError(await cluster.cli(['put', '-r', '-', 'dash-tree']))).toMatch(/^put -r needs a directory, not -/);
      expect(usageError(await cluster.cli(['put', '-r', '', 'empty-tree']))).toMatch(/must not be empty/);
      expect(usageError(await cluster.cli(['get', '-r', 'report', '-']))).toMatch(/^get -r needs a directory, not -: a tree cannot go to stdout/);
      const ls = await cluster.cli(['--json', 'ls']);
      expect((JSON.parse(text(ls)) as Array<{ name: string }>).filter((f) => /tree\//.test(f.name))).toEqual([]);
    });

    it('need both arguments: nothing lands at the root of the names or in the current directory', async () => {
      const tree = await mkdtemp(join(cluster.root, 'tree-'));
      await writeFile(join(tree, 'leaf.txt'), 'leaf');
      expect(usageError(await cluster.cli(['put', '-r', tree]))).toBe('put -r needs <prefix> (cairn put -r <dir> <prefix>)');
      expect((await cluster.cli(['stat', 'leaf.txt'])).code).toBe(3);

      expect((await cluster.cli(['put', '-', 't1/a.txt'], { input: Buffer.from('a') })).code).toBe(0);
      const cwd = await mkdtemp(join(cluster.root, 'cwd-'));
      expect(usageError(await cluster.cli(['get', '-r', 't1'], { cwd }))).toBe('get -r needs <dir> (cairn get -r <prefix> <dir>)');
      expect(await readdir(cwd)).toEqual([]);
    });
  });

  describe('the environment and the config file', () => {
    it('--timeout, CAIRN_TIMEOUT and the config file refuse more than a Node timer takes, without a warning', async () => {
      const flag = await cluster.cli(['--timeout', '25d', 'nodes']);
      expect(usageError(flag)).toBe('--timeout must be at most 24.8d, got 25d');
      expect(flag.stderr).not.toMatch(/TimeoutOverflowWarning/);
      expect(usageError(await cliWithEnv(['nodes'], { CAIRN_TIMEOUT: '25d' }))).toBe('CAIRN_TIMEOUT must be at most 24.8d, got 25d');
      const config = join(cluster.root, 'timeout.json');
      await writeFile(config, JSON.stringify({ timeout: '25d' }));
      expect(usageError(await cluster.cli(['--config', config, 'nodes']))).toBe(`timeout in config file ${config} must be at most 24.8d, got 25d`);
    });

    it.each([
      [{ controller: 1234 }, 'controller must be a string, not a number'],
      [{ controller: ['a'] }, 'controller must be a string, not an array'],
      [{ timeout: {} }, 'timeout must be a duration (a string such as "30s", or a number of milliseconds), not an object'],
      [{ ca: 5 }, 'ca must be a string, not a number'],
    ])('a config value of the wrong type is a usage error naming the file and the key: %j', async (values, message) => {
      const config = join(cluster.root, 'typed.json');
      await writeFile(config, JSON.stringify(values));
      expect(usageError(await cluster.cli(['--config', config, 'nodes']))).toBe(`config file ${config}: ${message}`);
    });

    it('a bad number from the environment names its variable', async () => {
      expect(usageError(await cliWithEnv(['put', '-', 'x'], { CAIRN_REPLICAS: 'abc' }))).toMatch(/^CAIRN_REPLICAS must be an integer from 1 to \d+$/);
    });

    it.each(['1', 'yes', 'TRUE'])('CAIRN_JSON=%s gives JSON', async (value) => {
      const nodes = await cliWithEnv(['nodes'], { CAIRN_JSON: value });
      expect(nodes.code).toBe(0);
      expect(JSON.parse(text(nodes))).toHaveLength(2);
    });

    it('CAIRN_JSON=maybe is a usage error naming the variable', async () => {
      expect(usageError(await cliWithEnv(['nodes'], { CAIRN_JSON: 'maybe' }))).toBe('CAIRN_JSON must be true or false (or 1/0, yes/no), got "maybe"');
    });
  });

  describe('usage messages', () => {
    it('name an unknown command and the nearest one', async () => {
      expect(usageError(await cluster.cli(['bogus']))).toBe('unknown command "bogus"; did you mean nodes?');
    });

    it('name an unknown option, even before the command', async () => {
      expect(usageError(await cluster.cli(['--nosuchflag', 'ls']))).toMatch(/nosuchflag/);
    });

    it.each([[['put', 'report.txt', '-']], [['cat', '-']], [['stat', '-']], [['get', '-']]])('say - is not a name: %j', async (args) => {
      expect(usageError(await cluster.cli(args))).toMatch(/^"-" is not a name/);
    });

    it('are one line where yargs writes several', async () => {
      expect(usageError(await cluster.cli(['token', 'create', '--scope', 'bogus']))).toMatch(/scope.*bogus/);
    });
  });

  it('--version prints one line', async () => {
    const version = await cluster.cli(['--version']);
    expect(version.code).toBe(0);
    expect(text(version)).toBe(`cairn protocol ${PROTOCOL_VERSION}\n`);
  });

  it('--help tells of CAIRN_TOKEN and the precedence', async () => {
    const help = await cluster.cli(['--help']);
    expect(help.code).toBe(0);
    const said = text(help).replace(/\s+/g, ' ');
    expect(said).toMatch(/CAIRN_TOKEN in the environment only, never from a flag/);
    expect(said).toMatch(/A flag wins over the environment, the environment over the config file, the config file over the default/);
  });
});
