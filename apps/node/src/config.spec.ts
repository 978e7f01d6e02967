import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CairnError } from '@cairn/protocol';
import { parseNodeConfig } from './config';

// yargs exits the process on --help, so that path is not exercised here (apps/e2e/src/startup-errors.spec.ts).

const GiB = 2 ** 30;
const HOUR = 3_600_000;

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

  async function configFile(contents: object | string): Promise<string> {
    const path = join(dir, 'node.json');
    await writeFile(path, typeof contents === 'string' ? contents : JSON.stringify(contents));
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
    [['--capacity', '0']],
    [['--capacity', '0GiB']],
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

  it('refuses a capacity of 0 wherever it comes from, naming where', async () => {
    expect(usageMessage(() => parseNodeConfig(['--capacity', '0']))).toBe('--capacity must be more than 0, got 0');
    process.env['CAIRN_CAPACITY'] = '0';
    expect(usageMessage(() => parseNodeConfig([]))).toBe('CAIRN_CAPACITY must be more than 0, got 0');
    delete process.env['CAIRN_CAPACITY'];
    const path = await configFile({ capacity: 0 });
    expect(usageMessage(() => parseNodeConfig(['--config', path]))).toBe(`capacity in config file ${path} must be more than 0, got 0`);
    expect(parseNodeConfig(['--config', path, '--capacity', '1']).capacity).toBe(1);
  });

  describe('mistakes are one line naming the flag, variable or config key (as the client)', () => {
    it('refuses an unknown flag, pointing to --help', () => {
      expect(usageMessage(() => parseNodeConfig(['--bogus', '1']))).toBe('unknown option --bogus (see cairn-node --help)');
      expect(usageMessage(() => parseNodeConfig(['--no-capacity']))).toBe('unknown option --no-capacity (see cairn-node --help)');
    });

    it('refuses a word that is no option, and a flag without its value', () => {
      expect(usageMessage(() => parseNodeConfig(['--port', '7701', 'extra']))).toBe('unexpected argument "extra": cairn-node takes options only (see cairn-node --help)');
      expect(usageMessage(() => parseNodeConfig(['--capacity']))).toBe('Not enough arguments following: capacity (see cairn-node --help)');
    });

    it('names where a bad value came from: the flag, the variable or the config file and key', async () => {
      const path = await configFile({ port: 70000, zone: 'rack a' });
      expect(usageMessage(() => parseNodeConfig(['--config', path]))).toBe(`port in config file ${path} must be 0-65535`);
      process.env['CAIRN_PORT'] = 'abc';
      expect(usageMessage(() => parseNodeConfig(['--config', path]))).toBe('CAIRN_PORT must be 0-65535');
      expect(usageMessage(() => parseNodeConfig(['--config', path, '--port=http']))).toBe('--port must be 0-65535');
      expect(usageMessage(() => parseNodeConfig(['--config', path, '--port', '1']))).toBe(`zone in config file ${path} must be 1-64 of [A-Za-z0-9_.-]`);
      process.env['CAIRN_SCRUB_INTERVAL'] = 'often';
      expect(usageMessage(() => parseNodeConfig(['--port', '1']))).toBe('CAIRN_SCRUB_INTERVAL: "often" is not a duration (e.g. 500ms, 3s, 2m)');
      expect(usageMessage(() => parseNodeConfig(['--port', '1', '--scrub-interval', '30s', '--log-format', 'xml']))).toBe('--log-format must be one of json, pretty, got "xml"');
    });

    it('refuses a config file that is not a JSON object of known options of the right type, naming it', async () => {
      expect(usageMessage(() => parseNodeConfig(['--config', '/dev/null']))).toMatch(/^config file \/dev\/null: /);
      let path = await configFile('["port"]');
      expect(usageMessage(() => parseNodeConfig(['--config', path]))).toBe(`config file ${path} must hold a JSON object`);
      path = await configFile({ capacityy: '1GiB' });
      expect(usageMessage(() => parseNodeConfig(['--config', path]))).toMatch(new RegExp(`^config file ${path}: unknown key "capacityy" \\(the keys are the options: host, port, `));
      path = await configFile({ port: '7701' });
      expect(usageMessage(() => parseNodeConfig(['--config', path]))).toBe(`config file ${path}: port must be a number, not a string`);
    });

    it('takes config keys in camelCase too, and sizes and durations as numbers', async () => {
      const path = await configFile({ scrubInterval: 60_000, capacity: 1024, 'cluster-secret-file': '/etc/cairn/secret' });
      expect(parseNodeConfig(['--config', path])).toMatchObject({ scrubIntervalMs: 60_000, capacity: 1024, clusterSecretFile: '/etc/cairn/secret' });
    });
  });

  describe('files the options name are checked before anything starts', () => {
    it('refuses a --data that is a file, or under one', async () => {
      const file = join(dir, 'afile');
      await writeFile(file, 'x');
      expect(usageMessage(() => parseNodeConfig(['--data', file]))).toBe(`${file} (--data) is not a directory`);
      expect(usageMessage(() => parseNodeConfig(['--data', join(file, 'n1')]))).toBe(`${join(file, 'n1')} (--data): part of the path is a file, not a directory`);
      const path = await configFile({ data: file });
      expect(usageMessage(() => parseNodeConfig(['--config', path]))).toBe(`${file} (data in config file ${path}) is not a directory`);
    });

    it('refuses a --ca that cannot be read or is no certificate, naming where it came from (as the client)', async () => {
      const missing = join(dir, 'missing.pem');
      expect(usageMessage(() => parseNodeConfig(['--ca', missing]))).toBe(`cannot read the CA file ${missing} (--ca): no such file or directory`);
      process.env['CAIRN_CA'] = dir;
      expect(usageMessage(() => parseNodeConfig([]))).toBe(`cannot read the CA file ${dir} (CAIRN_CA): is a directory`);
      const notPem = join(dir, 'ca.pem');
      await writeFile(notPem, 'hello\n');
      expect(usageMessage(() => parseNodeConfig(['--ca', notPem]))).toBe(`${notPem} (--ca) is not a PEM certificate`);
    });

    it('refuses TLS files that cannot be read, or are not a certificate and a key', async () => {
      const key = join(dir, 'host.key');
      await writeFile(key, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
      const missing = join(dir, 'missing.key');
      expect(usageMessage(() => parseNodeConfig(['--tls-cert', key, '--tls-key', missing]))).toBe(`cannot read the TLS key ${missing} (--tls-key): no such file or directory`);
      expect(usageMessage(() => parseNodeConfig(['--tls-cert', key, '--tls-key', key]))).toBe(`${key} (--tls-cert) is not a PEM certificate: it holds a private key (are --tls-cert and --tls-key swapped?)`);
    });
  });
});
