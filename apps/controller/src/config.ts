import { LOG_FORMATS, LOG_LEVELS, type LogFormat, defaultConfigPath, readConfigFile } from '@cairn/transfer';
import yargs from 'yargs';
import { CairnError, envToFlags, parseByteSize, MAX_REPLICAS, parseDuration, parseTimerDuration } from '@cairn/protocol';

export interface ControllerConfig {
  host: string;
  port: number;
  data: string;
  replicas: number;
  nodeTimeoutMs: number;
  /** How long an unreferenced chunk (removed, replaced or orphaned) is kept before deletion. */
  gcGraceMs: number;
  repairConcurrency: number;
  /** Repair copies at most this many bytes per second (0: no cap). */
  repairBytesPerSecond: number;
  /** Serve wss:// and https:// with this certificate and key. */
  tls: { cert: string; key: string } | undefined;
  /** Connections without a complete frame either way for this long are closed (slow peers). */
  idleTimeoutMs: number;
  logLevel: string;
  /** `json` (the default) or `pretty` (through pino-pretty; only when asked for). */
  logFormat: LogFormat;
}

/** ~/.config/cairn/controller.json (or under $XDG_CONFIG_HOME), read when it exists. */
const CONFIG_PATH = defaultConfigPath('controller');

/** Every option, each also read from CAIRN_<OPTION> in the environment. */
const OPTION_NAMES = ['config', 'host', 'port', 'data', 'replicas', 'node-timeout', 'gc-grace', 'repair-concurrency', 'repair-rate', 'tls-cert', 'tls-key', 'idle-timeout', 'log-level', 'log-format'];

/** Flags > CAIRN_* environment > --config file > defaults (DESIGN.md, stable surface). */
export function parseControllerConfig(argv: string[]): ControllerConfig {
  const args = yargs([...envToFlags(process.env, OPTION_NAMES), ...argv])
    .scriptName('cairn-controller')
    .usage('$0 [options]\n\nRuns the Cairn controller: node membership, the file catalog and placement.')
    .option('config', { type: 'string', default: CONFIG_PATH, describe: 'JSON config file with any of the options below (CAIRN_CONFIG)' })
    .config('config', (path: string) => readConfigFile(path, CONFIG_PATH))
    .option('host', { type: 'string', default: '127.0.0.1', describe: 'address to listen on (CAIRN_HOST)' })
    .option('port', { type: 'number', default: 7700, describe: 'port for WebSocket (/ws), /healthz and /metrics (CAIRN_PORT)' })
    .option('data', { type: 'string', default: './.cairn/controller', describe: 'data directory: catalog database and keys (CAIRN_DATA)' })
    .option('replicas', { type: 'number', default: 2, describe: 'default replication factor (CAIRN_REPLICAS)' })
    .option('node-timeout', { type: 'string', default: '30s', describe: 'a node without heartbeat this long is dead (CAIRN_NODE_TIMEOUT)' })
    .option('gc-grace', { type: 'string', default: '1h', describe: 'keep unreferenced chunks this long before deleting them (CAIRN_GC_GRACE)' })
    .option('repair-concurrency', { type: 'number', default: 4, describe: 'chunk copies in flight during repair (CAIRN_REPAIR_CONCURRENCY)' })
    .option('repair-rate', { type: 'string', default: '100MiB', describe: 'bytes per second repair may copy, 0 for no cap (CAIRN_REPAIR_RATE)' })
    .option('tls-cert', { type: 'string', describe: 'TLS certificate (PEM): serve wss:// and https:// (CAIRN_TLS_CERT)' })
    .option('tls-key', { type: 'string', describe: 'TLS private key (PEM) for --tls-cert (CAIRN_TLS_KEY)' })
    .option('idle-timeout', { type: 'string', default: '60s', describe: 'close connections silent this long (CAIRN_IDLE_TIMEOUT)' })
    .option('log-level', { type: 'string', default: 'info', choices: LOG_LEVELS, describe: 'log level (CAIRN_LOG_LEVEL)' })
    .option('log-format', { type: 'string', default: 'json', choices: LOG_FORMATS, describe: 'json lines, or pretty for reading at a terminal (CAIRN_LOG_FORMAT)' })
    .example('$0 --port 7700 --data ./.cairn/controller', 'the defaults, spelled out')
    .example('CAIRN_NODE_TIMEOUT=3s $0', 'declare nodes dead after 3 s without heartbeat')
    .strictOptions()
    .parserConfiguration({ 'duplicate-arguments-array': false })
    .help()
    .version(false)
    .exitProcess(true)
    .parseSync();
  const replicas = args.replicas;
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > MAX_REPLICAS) {
    throw new CairnError('E_USAGE', `--replicas must be an integer from 1 to ${MAX_REPLICAS}`);
  }
  const port = args.port;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new CairnError('E_USAGE', '--port must be 0-65535');
  // Timers' delays (a longer one would fire at once); --gc-grace is compared with ages, so it may be longer.
  const nodeTimeoutMs = parseTimerDuration(args.nodeTimeout, '--node-timeout');
  if (nodeTimeoutMs < 100) throw new CairnError('E_USAGE', '--node-timeout must be at least 100ms');
  const gcGraceMs = parseDuration(args.gcGrace, '--gc-grace');
  const repairConcurrency = args.repairConcurrency;
  if (!Number.isInteger(repairConcurrency) || repairConcurrency < 1 || repairConcurrency > 64) {
    throw new CairnError('E_USAGE', '--repair-concurrency must be an integer from 1 to 64');
  }
  if (Boolean(args.tlsCert) !== Boolean(args.tlsKey)) throw new CairnError('E_USAGE', '--tls-cert and --tls-key go together');
  const tls = args.tlsCert && args.tlsKey ? { cert: args.tlsCert, key: args.tlsKey } : undefined;
  return { host: args.host, port, data: args.data, replicas, nodeTimeoutMs, gcGraceMs, repairConcurrency, repairBytesPerSecond: parseByteSize(args.repairRate, '--repair-rate'), tls, idleTimeoutMs: parseTimerDuration(args.idleTimeout, '--idle-timeout'), logLevel: args.logLevel, logFormat: args.logFormat as LogFormat };
}
