import { generateKeyPairSync } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CairnError } from '@cairn/protocol';
import { parseControllerConfig } from './config';

// yargs exits the process on --help, so that path is not exercised here (apps/e2e/src/startup-errors.spec.ts).

/** The E_USAGE message `fn` fails with (anything else fails the test). */
function usageMessage(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof CairnError && err.code === 'E_USAGE') return err.message;
    throw err;
  }
  throw new Error('expected a usage error, got none');
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof CairnError ? err.code : `not a CairnError: ${String(err)}`;
  }
  return undefined;
}

describe('parseControllerConfig', () => {
  const savedEnv = { ...process.env };
  let dir: string;

  beforeEach(async () => {
    // Only the variables a test sets may reach the parser.
    for (const key of Object.keys(process.env)) if (key.startsWith('CAIRN_')) delete process.env[key];
    dir = await mkdtemp(join(tmpdir(), 'cairn-controller-config-'));
  });

  afterEach(async () => {
    for (const key of Object.keys(process.env)) if (!(key in savedEnv)) delete process.env[key];
    Object.assign(process.env, savedEnv);
    await rm(dir, { recursive: true, force: true });
  });

  async function configFile(contents: object | string): Promise<string> {
    const path = join(dir, 'controller.json');
    await writeFile(path, typeof contents === 'string' ? contents : JSON.stringify(contents));
    return path;
  }

  it('has the documented defaults', () => {
    const config = parseControllerConfig([]);

    expect(config).toMatchObject({ host: '127.0.0.1', port: 7700, data: './.cairn/controller', replicas: 2, logLevel: 'info', logFormat: 'json' });
    // "tens of seconds" without a heartbeat before a node is declared dead
    expect(config.nodeTimeoutMs).toBeGreaterThanOrEqual(10_000);
    expect(config.nodeTimeoutMs).toBeLessThan(100_000);
  });

  it('reads flags written as --flag value', () => {
    const config = parseControllerConfig([
      '--host', '0.0.0.0',
      '--port', '7800',
      '--data', '/srv/cairn/controller',
      '--replicas', '3',
      '--node-timeout', '3s',
      '--log-level', 'debug',
    ]);

    expect(config).toMatchObject({
      host: '0.0.0.0',
      port: 7800,
      data: '/srv/cairn/controller',
      replicas: 3,
      nodeTimeoutMs: 3000,
      logLevel: 'debug',
    });
  });

  it('reads flags written as --flag=value', () => {
    const config = parseControllerConfig(['--port=7801', '--replicas=1', '--node-timeout=1500ms', '--data=d', '--gc-grace=10m', '--repair-concurrency=8', '--repair-rate=10MiB']);

    expect(config).toMatchObject({ port: 7801, replicas: 1, nodeTimeoutMs: 1500, data: 'd', gcGraceMs: 600_000, repairConcurrency: 8, repairBytesPerSecond: 10 * 1024 * 1024 });
  });

  it('prints pretty logs only when asked, by flag, CAIRN_LOG_FORMAT or the config file', async () => {
    expect(parseControllerConfig(['--log-format', 'pretty']).logFormat).toBe('pretty');
    expect(parseControllerConfig(['--log-format=json']).logFormat).toBe('json');
    const path = await configFile({ 'log-format': 'pretty' });
    expect(parseControllerConfig(['--config', path]).logFormat).toBe('pretty');
    process.env['CAIRN_LOG_FORMAT'] = 'pretty';
    expect(parseControllerConfig([]).logFormat).toBe('pretty');
    expect(parseControllerConfig(['--log-format', 'json']).logFormat).toBe('json');
  });

  it('accepts port 0 (any free port)', () => {
    expect(parseControllerConfig(['--port', '0']).port).toBe(0);
  });

  it('reads CAIRN_* environment variables', () => {
    process.env['CAIRN_HOST'] = '::1';
    process.env['CAIRN_PORT'] = '7900';
    process.env['CAIRN_DATA'] = '/var/lib/cairn';
    process.env['CAIRN_REPLICAS'] = '4';
    process.env['CAIRN_NODE_TIMEOUT'] = '2m';

    expect(parseControllerConfig([])).toMatchObject({
      host: '::1',
      port: 7900,
      data: '/var/lib/cairn',
      replicas: 4,
      nodeTimeoutMs: 120_000,
    });
  });

  it('lets flags override the environment', () => {
    process.env['CAIRN_PORT'] = '7900';
    process.env['CAIRN_NODE_TIMEOUT'] = '2m';

    expect(parseControllerConfig(['--port', '7800', '--node-timeout=5s'])).toMatchObject({ port: 7800, nodeTimeoutMs: 5000 });
  });

  it('lets a flag of 1 override the environment (yargs would add the two up)', () => {
    process.env['CAIRN_REPLICAS'] = '2';
    process.env['CAIRN_REPAIR_CONCURRENCY'] = 'many';

    expect(parseControllerConfig(['--replicas', '1', '--repair-concurrency=1'])).toMatchObject({ replicas: 1, repairConcurrency: 1 });
  });

  it('reads a --config JSON file, below the environment and the flags', async () => {
    const path = await configFile({ host: '10.0.0.5', port: 7600, replicas: 3, 'node-timeout': '10s', data: '/from/file' });

    expect(parseControllerConfig(['--config', path])).toMatchObject({
      host: '10.0.0.5',
      port: 7600,
      replicas: 3,
      nodeTimeoutMs: 10_000,
      data: '/from/file',
    });

    process.env['CAIRN_REPLICAS'] = '5';
    expect(parseControllerConfig([`--config=${path}`, '--port', '7601'])).toMatchObject({
      host: '10.0.0.5',
      port: 7601,
      replicas: 5,
      nodeTimeoutMs: 10_000,
    });
  });

  it.each([
    [['--node-timeout', 'soon']],
    [['--node-timeout', '50ms']],
    [['--node-timeout=-3s']],
    [['--replicas', '0']],
    [['--replicas', '17']],
    [['--replicas', '2.5']],
    [['--replicas', 'two']],
    [['--port', '65536']],
    [['--port=-1']],
    [['--port', 'http']],
    [['--gc-grace', 'later']],
    [['--repair-concurrency', '0']],
    [['--repair-rate', 'fast']],
  ])('refuses %j with E_USAGE', (argv) => {
    expect(codeOf(() => parseControllerConfig(argv))).toBe('E_USAGE');
  });

  it('refuses a node timeout or idle timeout longer than a timer takes (24.8 days); a GC grace may be longer', () => {
    for (const flag of ['--node-timeout', '--idle-timeout']) {
      expect(() => parseControllerConfig([flag, '30d'])).toThrow(`${flag} must be at most 24.8d, got 30d`);
    }
    expect(parseControllerConfig(['--gc-grace', '30d']).gcGraceMs).toBe(30 * 86_400_000);
  });

  it('refuses an invalid value from the environment with E_USAGE', () => {
    process.env['CAIRN_REPLICAS'] = '0';
    expect(codeOf(() => parseControllerConfig([]))).toBe('E_USAGE');

    process.env['CAIRN_REPLICAS'] = '2';
    process.env['CAIRN_NODE_TIMEOUT'] = 'whenever';
    expect(codeOf(() => parseControllerConfig([]))).toBe('E_USAGE');
  });

  describe('mistakes are one line naming the flag, variable or config key (as the client)', () => {
    it('refuses an unknown flag, pointing to --help', () => {
      expect(usageMessage(() => parseControllerConfig(['--bogus', '1']))).toBe('unknown option --bogus (see cairn-controller --help)');
      expect(usageMessage(() => parseControllerConfig(['--no-port']))).toBe('unknown option --no-port (see cairn-controller --help)');
      expect(usageMessage(() => parseControllerConfig(['--bogus', '-x']))).toBe('unknown options --bogus, -x (see cairn-controller --help)');
    });

    it('refuses a word that is no option, and a flag without its value', () => {
      expect(usageMessage(() => parseControllerConfig(['--port', '7700', 'extra']))).toBe('unexpected argument "extra": cairn-controller takes options only (see cairn-controller --help)');
      expect(usageMessage(() => parseControllerConfig(['--', '--port']))).toMatch(/^unexpected argument "--port"/);
      expect(usageMessage(() => parseControllerConfig(['--port']))).toBe('Not enough arguments following: port (see cairn-controller --help)');
    });

    it('names where a bad value came from: the flag, the variable or the config file and key', async () => {
      const path = await configFile({ port: 70000, 'log-level': 'loud' });
      expect(usageMessage(() => parseControllerConfig(['--config', path]))).toBe(`port in config file ${path} must be 0-65535`);
      process.env['CAIRN_PORT'] = 'abc';
      expect(usageMessage(() => parseControllerConfig(['--config', path]))).toBe('CAIRN_PORT must be 0-65535');
      expect(usageMessage(() => parseControllerConfig(['--config', path, '--port=http']))).toBe('--port must be 0-65535');
      expect(usageMessage(() => parseControllerConfig(['--config', path, '--port', '7800']))).toBe(`log-level in config file ${path} must be one of fatal, error, warn, info, debug, trace, silent, got "loud"`);
      process.env['CAIRN_NODE_TIMEOUT'] = 'soon';
      expect(usageMessage(() => parseControllerConfig(['--port', '7800']))).toBe('CAIRN_NODE_TIMEOUT: "soon" is not a duration (e.g. 500ms, 3s, 2m)');
    });

    it('refuses a config file that is not a JSON object of known options of the right type, naming it', async () => {
      expect(usageMessage(() => parseControllerConfig(['--config', '/dev/null']))).toMatch(/^config file \/dev\/null: /);
      let path = await configFile('[1, 2]');
      expect(usageMessage(() => parseControllerConfig(['--config', path]))).toBe(`config file ${path} must hold a JSON object`);
      path = await configFile({ port: 7700, bogus: 1 });
      expect(usageMessage(() => parseControllerConfig(['--config', path]))).toMatch(new RegExp(`^config file ${path}: unknown key "bogus" \\(the keys are the options: host, port, `));
      path = await configFile({ config: '/elsewhere.json' });
      expect(usageMessage(() => parseControllerConfig(['--config', path]))).toMatch(new RegExp(`^config file ${path}: unknown key "config"`));
      path = await configFile({ port: 'abc' });
      expect(usageMessage(() => parseControllerConfig(['--config', path]))).toBe(`config file ${path}: port must be a number, not a string`);
      path = await configFile({ 'node-timeout': ['3s'] });
      expect(usageMessage(() => parseControllerConfig(['--config', path]))).toMatch(new RegExp(`^config file ${path}: node-timeout must be a duration .*, not an array$`));
    });

    it('takes config keys in camelCase too, and durations and sizes as numbers', async () => {
      const path = await configFile({ nodeTimeout: 3000, 'repair-rate': 1024, gcGrace: '2h' });
      expect(parseControllerConfig(['--config', path])).toMatchObject({ nodeTimeoutMs: 3000, repairBytesPerSecond: 1024, gcGraceMs: 7_200_000 });
    });
  });

  describe('files the options name are checked before anything starts', () => {
    it('refuses a --data that is a file, or under one', async () => {
      const file = join(dir, 'afile');
      await writeFile(file, 'x');
      expect(usageMessage(() => parseControllerConfig(['--data', file]))).toBe(`${file} (--data) is not a directory`);
      expect(usageMessage(() => parseControllerConfig(['--data', join(file, 'sub')]))).toBe(`${join(file, 'sub')} (--data): part of the path is a file, not a directory`);
      process.env['CAIRN_DATA'] = file;
      expect(usageMessage(() => parseControllerConfig([]))).toBe(`${file} (CAIRN_DATA) is not a directory`);
    });

    it('takes a --data that is a directory, or not there yet', async () => {
      await mkdir(join(dir, 'data'));
      expect(parseControllerConfig(['--data', join(dir, 'data')]).data).toBe(join(dir, 'data'));
      expect(parseControllerConfig(['--data', join(dir, 'new', 'data')]).data).toBe(join(dir, 'new', 'data'));
    });

    it('refuses TLS files that cannot be read, or are not a certificate and a key', async () => {
      const key = join(dir, 'host.key');
      await writeFile(key, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
      const missing = join(dir, 'missing.pem');
      expect(usageMessage(() => parseControllerConfig(['--tls-cert', missing, '--tls-key', key]))).toBe(`cannot read the TLS certificate ${missing} (--tls-cert): no such file or directory`);
      // A key given for the certificate: most likely the two swapped.
      expect(usageMessage(() => parseControllerConfig(['--tls-cert', key, '--tls-key', key]))).toBe(`${key} (--tls-cert) is not a PEM certificate: it holds a private key (are --tls-cert and --tls-key swapped?)`);
      const garbage = join(dir, 'garbage.pem');
      await writeFile(garbage, 'not a PEM file\n');
      expect(usageMessage(() => parseControllerConfig(['--tls-cert', garbage, '--tls-key', key]))).toBe(`${garbage} (--tls-cert) is not a PEM certificate`);
      expect(usageMessage(() => parseControllerConfig(['--tls-cert', key]))).toBe('--tls-cert and --tls-key go together');
    });
  });
});
