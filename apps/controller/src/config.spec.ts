import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CairnError } from '@cairn/protocol';
import { parseControllerConfig } from './config';

// yargs exits the process on --help and on unknown options, so those paths are not exercised here.

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

  async function configFile(contents: object): Promise<string> {
    const path = join(dir, 'controller.json');
    await writeFile(path, JSON.stringify(contents));
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
});
