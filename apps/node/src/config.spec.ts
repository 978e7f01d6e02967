import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CairnError } from '@cairn/protocol';
import { parseNodeConfig } from './config';

// yargs exits the process on --help and on unknown options, so those paths are not exercised here.

const GiB = 2 ** 30;
const HOUR = 3_600_000;

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof CairnError ? err.code : `not a CairnError: ${String(err)}`;
  }
  return undefined;
}

describe('parseNodeConfig', () => {
  const savedEnv = { ...process.env };
  let dir: string;

  beforeEach(async () => {
    // Only the variables a test sets may reach the parser.
    for (const key of Object.keys(process.env)) if (key.startsWith('CAIRN_')) delete process.env[key];
    dir = await mkdtemp(join(tmpdir(), 'cairn-node-config-'));
  });

  afterEach(async () => {
    for (const key of Object.keys(process.env)) if (!(key in savedEnv)) delete process.env[key];
    Object.assign(process.env, savedEnv);
    await rm(dir, { recursive: true, force: true });
  });

  async function configFile(contents: object): Promise<string> {
    const path = join(dir, 'node.json');
    await writeFile(path, JSON.stringify(contents));
    return path;
  }

  it('has the documented defaults', () => {
    const config = parseNodeConfig([]);

    expect(config).toMatchObject({
      host: '127.0.0.1',
      port: 7701,
      data: './.cairn/node-7701',
      controller: '127.0.0.1:7700',
      zone: null,
      capacity: undefined, // its disk
      advertise: undefined,
      logLevel: 'info',
      logFormat: 'json',
    });
    expect(config.scrubIntervalMs).toBeGreaterThanOrEqual(HOUR); // "default hours"
  });

  it('derives the default data directory from the port', () => {
    expect(parseNodeConfig(['--port', '7702']).data).toBe('./.cairn/node-7702');
    expect(parseNodeConfig(['--port', '7702', '--data', 'elsewhere']).data).toBe('elsewhere');
    process.env['CAIRN_PORT'] = '7705';
    expect(parseNodeConfig([]).data).toBe('./.cairn/node-7705');
  });

  it('reads flags written as --flag value', () => {
    const config = parseNodeConfig([
      '--host', '0.0.0.0',
      '--port', '7710',
      '--data', '/srv/n1',
      '--controller', '10.0.0.1:7700',
      '--zone', 'rack-a',
      '--capacity', '10GiB',
      '--scrub-interval', '30s',
      '--advertise', 'n1.example:7710',
      '--log-level', 'warn',
      '--log-format', 'pretty',
    ]);

    expect(config).toEqual({
      host: '0.0.0.0',
      port: 7710,
      data: '/srv/n1',
      controller: '10.0.0.1:7700',
      zone: 'rack-a',
      capacity: 10 * GiB,
      scrubIntervalMs: 30_000,
      advertise: 'n1.example:7710',
      logLevel: 'warn',
      logFormat: 'pretty',
      clusterSecretFile: './.cairn/controller/cluster-secret',
      tls: undefined,
      ca: undefined,
      idleTimeoutMs: 60_000,
    });
  });

  it('reads flags written as --flag=value', () => {
    const config = parseNodeConfig(['--port=7711', '--capacity=512MB', '--scrub-interval=2h', '--zone=b', '--controller=wss://c.example']);

    expect(config).toMatchObject({
      port: 7711,
      data: './.cairn/node-7711',
      capacity: 512_000_000,
      scrubIntervalMs: 2 * HOUR,
      zone: 'b',
      controller: 'wss://c.example',
    });
  });

  it('reads CAIRN_* environment variables', () => {
    process.env['CAIRN_PORT'] = '7720';
    process.env['CAIRN_DATA'] = '/var/lib/cairn/n';
    process.env['CAIRN_CONTROLLER'] = '192.168.1.2:7700';
    process.env['CAIRN_ZONE'] = 'room-2';
    process.env['CAIRN_CAPACITY'] = '1TiB';
    process.env['CAIRN_SCRUB_INTERVAL'] = '45m';

    expect(parseNodeConfig([])).toMatchObject({
      port: 7720,
      data: '/var/lib/cairn/n',
      controller: '192.168.1.2:7700',
      zone: 'room-2',
      capacity: 1024 * GiB,
      scrubIntervalMs: 45 * 60_000,
    });
  });

  it('lets flags override the environment', () => {
    process.env['CAIRN_CAPACITY'] = '1TiB';
    process.env['CAIRN_CONTROLLER'] = '192.168.1.2:7700';

    expect(parseNodeConfig(['--capacity', '2GiB', '--controller=127.0.0.1:7800'])).toMatchObject({
      capacity: 2 * GiB,
      controller: '127.0.0.1:7800',
    });
  });

  it('reads a --config JSON file, below the environment and the flags', async () => {
    const path = await configFile({ port: 7730, zone: 'z1', capacity: '3GiB', 'scrub-interval': '6h', controller: 'ctl:7700' });

    expect(parseNodeConfig(['--config', path])).toMatchObject({
      port: 7730,
      data: './.cairn/node-7730',
      zone: 'z1',
      capacity: 3 * GiB,
      scrubIntervalMs: 6 * HOUR,
      controller: 'ctl:7700',
    });

    process.env['CAIRN_ZONE'] = 'z2';
    expect(parseNodeConfig([`--config=${path}`, '--capacity', '4GiB'])).toMatchObject({
      port: 7730,
      zone: 'z2',
      capacity: 4 * GiB,
    });
  });

  it('prints pretty logs only when asked, by flag, CAIRN_LOG_FORMAT or the config file', async () => {
    expect(parseNodeConfig(['--log-format', 'pretty']).logFormat).toBe('pretty');
    const path = await configFile({ 'log-format': 'pretty' });
    expect(parseNodeConfig(['--config', path]).logFormat).toBe('pretty');
    process.env['CAIRN_LOG_FORMAT'] = 'pretty';
    expect(parseNodeConfig([]).logFormat).toBe('pretty');
    expect(parseNodeConfig(['--log-format=json']).logFormat).toBe('json');
  });

  it('treats an empty zone as no zone', () => {
    expect(parseNodeConfig(['--zone='])).toMatchObject({ zone: null });
  });

  it.each([
    [['--capacity', 'lots']],
    [['--capacity', '10 parsecs']],
    [['--capacity=-5']],
    [['--scrub-interval', 'often']],
    [['--zone', 'rack a']],
    [['--zone', 'x'.repeat(65)]],
    [['--port', '70000']],
    [['--port', 'http']],
  ])('refuses %j with E_USAGE', (argv) => {
    expect(codeOf(() => parseNodeConfig(argv))).toBe('E_USAGE');
  });

  it('accepts an --advertise address a node may announce, and refuses any other with E_USAGE', () => {
    for (const advertise of ['node-1.example:7701', '10.0.0.5:7701', '[::1]:7701', 'wss://node-1.example:7701']) {
      expect(parseNodeConfig(['--advertise', advertise]).advertise).toBe(advertise);
    }
    for (const advertise of ['http://node-1:7701', 'node-1', '::1:7701', 'node 1:7701', '']) {
      expect(codeOf(() => parseNodeConfig(['--advertise', advertise]))).toBe('E_USAGE');
    }
  });

  it('refuses a scrub interval or idle timeout longer than a timer takes (24.8 days), which would fire at once', () => {
    expect(parseNodeConfig(['--scrub-interval', '24d']).scrubIntervalMs).toBe(24 * 86_400_000);
    for (const flag of ['--scrub-interval', '--idle-timeout']) {
      expect(() => parseNodeConfig([flag, '30d'])).toThrow(`${flag} must be at most 24.8d, got 30d`);
    }
  });

  it('refuses an invalid value from the environment with E_USAGE', () => {
    process.env['CAIRN_CAPACITY'] = 'lots';
    expect(codeOf(() => parseNodeConfig([]))).toBe('E_USAGE');
  });
});
