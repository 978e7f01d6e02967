import {
  LOG_FORMATS,
  LOG_LEVELS,
  type LoadedConfig,
  type LogFormat,
  type OptionKind,
  checkConfigFile,
  checkDataDirectory,
  checkTlsFiles,
  defaultConfigPath,
  isFlagGiven,
  oneOf,
  optionSource,
  readConfigFile,
  refuseStrayWords,
  yargsUsageError,
} from '@cairn/transfer';
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
  /** Serve wss:// and https:// with this certificate and key (both read, and checked to match). */
  tls: { cert: string; key: string } | undefined;
  /** Connections without a complete frame either way for this long are closed (slow peers). */
  idleTimeoutMs: number;
  logLevel: string;
  /** `json` (the default) or `pretty` (through pino-pretty; only when asked for). */
  logFormat: LogFormat;
}

/** ~/.config/cairn/controller.json (or under $XDG_CONFIG_HOME), read when it exists. */
const CONFIG_PATH = defaultConfigPath('controller');

/**
 * Every option and the kind of value it takes. Each is also CAIRN_<OPTION> in the environment and, but
 * `config`, a key of the config file. A duration or a size is a string (`30s`, `10MiB`) or a number
 * (milliseconds, bytes).
 */
const OPTIONS = {
  config: 'string',
  host: 'string',
  port: 'number',
  data: 'string',
  replicas: 'number',
  'node-timeout': 'duration',
  'gc-grace': 'duration',
  'repair-concurrency': 'number',
  'repair-rate': 'size',
  'tls-cert': 'string',
  'tls-key': 'string',
  'idle-timeout': 'duration',
  'log-level': 'string',
  'log-format': 'string',
} as const satisfies Record<string, OptionKind>;

type Option = keyof typeof OPTIONS;
const OPTION_NAMES = Object.keys(OPTIONS) as Option[];

const ENVIRONMENT_HELP = [
  'Every option is also CAIRN_<NAME> in the environment (CAIRN_NODE_TIMEOUT for --node-timeout, CAIRN_CONFIG for --config) and, but --config, a key of the config file.',
  'A flag wins over the environment, the environment over the config file, the config file over the default.',
  'The secrets come from the environment only: CAIRN_CLUSTER_SECRET and CAIRN_ADMIN_TOKEN (at least 16 characters each); unset, they are generated into --data.',
].join('\n');

/**
 * Flags > CAIRN_* environment > --config file > defaults (DESIGN.md, stable surface). A mistake is a
 * one-line E_USAGE error naming where the value came from (`--port`, `CAIRN_PORT`, `port in config
 * file …`): an unknown flag, a word that is not an option, a config file that is not a JSON object of
 * known options, a value out of range, TLS files that cannot be read or do not match, a --data that is
 * not a directory. `--help` prints the options and exits.
 */
export function parseControllerConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): ControllerConfig {
  let config: LoadedConfig | undefined;
  let configError: unknown; // yargs passes on only the message of what the config function throws
  const source = (option: Option) => optionSource(option, argv, env, config);
  // Only the variables of options not given as flags: yargs would add up `--replicas=2 --replicas 1` (to 3).
  const fromEnv = envToFlags(env, OPTION_NAMES.filter((option) => !isFlagGiven(option, argv)));
  const args = yargs([...fromEnv, ...argv])
    .scriptName('cairn-controller')
    .usage('$0 [options]\n\nRuns the Cairn controller: node membership, the file catalog and placement.')
    .epilogue(ENVIRONMENT_HELP)
    .option('config', { type: 'string', default: CONFIG_PATH, requiresArg: true })
    .config('config', 'JSON config file with any of the options below (CAIRN_CONFIG)', (path: string) => {
      try {
        config = checkConfigFile({ path, values: readConfigFile(path, CONFIG_PATH) }, OPTIONS);
      } catch (err) {
        configError = err;
        throw err;
      }
      return config.values;
    })
    .option('host', { type: 'string', default: '127.0.0.1', requiresArg: true, describe: 'address to listen on (CAIRN_HOST)' })
    .option('port', { type: 'number', default: 7700, requiresArg: true, describe: 'port for WebSocket (/ws), /healthz, /readyz, /metrics and the dashboard (CAIRN_PORT)' })
    .option('data', { type: 'string', default: './.cairn/controller', requiresArg: true, describe: 'data directory: catalog database and keys (CAIRN_DATA)' })
    .option('replicas', { type: 'number', default: 2, requiresArg: true, describe: 'default replication factor (CAIRN_REPLICAS)' })
    .option('node-timeout', { type: 'string', default: '30s', requiresArg: true, describe: 'a node without heartbeat this long is dead (CAIRN_NODE_TIMEOUT)' })
    .option('gc-grace', { type: 'string', default: '1h', requiresArg: true, describe: 'keep unreferenced chunks this long before deleting them (CAIRN_GC_GRACE)' })
    .option('repair-concurrency', { type: 'number', default: 4, requiresArg: true, describe: 'chunk copies in flight during repair (CAIRN_REPAIR_CONCURRENCY)' })
    .option('repair-rate', { type: 'string', default: '100MiB', requiresArg: true, describe: 'bytes per second repair may copy, 0 for no cap (CAIRN_REPAIR_RATE)' })
    .option('tls-cert', { type: 'string', requiresArg: true, describe: 'TLS certificate (PEM): serve wss:// and https:// (CAIRN_TLS_CERT)' })
    .option('tls-key', { type: 'string', requiresArg: true, describe: 'TLS private key (PEM, unencrypted) for --tls-cert (CAIRN_TLS_KEY)' })
    .option('idle-timeout', { type: 'string', default: '60s', requiresArg: true, describe: 'close connections silent this long (CAIRN_IDLE_TIMEOUT)' })
    // Checked below rather than by yargs' `choices`, so that a wrong one is named by where it came from.
    .option('log-level', { type: 'string', default: 'info', requiresArg: true, describe: `log level: ${LOG_LEVELS.join(', ')} (CAIRN_LOG_LEVEL)` })
    .option('log-format', { type: 'string', default: 'json', requiresArg: true, describe: 'json lines, or pretty for reading at a terminal (CAIRN_LOG_FORMAT)' })
    .example('$0 --port 7700 --data ./.cairn/controller', 'the defaults, spelled out')
    .example('CAIRN_NODE_TIMEOUT=3s $0', 'declare nodes dead after 3 s without heartbeat')
    .strictOptions()
    // No switches here: `--no-port` would otherwise be read as port 0 (any free port).
    .parserConfiguration({ 'duplicate-arguments-array': false, 'boolean-negation': false })
    .help()
    .version(false)
    .exitProcess(true) // for --help only: every mistake goes through fail()
    .fail((message, err) => {
      throw configError ?? yargsUsageError('cairn-controller', message, err);
    })
    .parseSync();
  refuseStrayWords('cairn-controller', args._);
  const replicas = args.replicas;
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > MAX_REPLICAS) {
    throw new CairnError('E_USAGE', `${source('replicas')} must be an integer from 1 to ${MAX_REPLICAS}`);
  }
  const port = args.port;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new CairnError('E_USAGE', `${source('port')} must be 0-65535`);
  // Timers' delays (a longer one would fire at once); --gc-grace is compared with ages, so it may be longer.
  const nodeTimeoutMs = parseTimerDuration(args.nodeTimeout, source('node-timeout'));
  if (nodeTimeoutMs < 100) throw new CairnError('E_USAGE', `${source('node-timeout')} must be at least 100ms`);
  const gcGraceMs = parseDuration(args.gcGrace, source('gc-grace'));
  const repairConcurrency = args.repairConcurrency;
  if (!Number.isInteger(repairConcurrency) || repairConcurrency < 1 || repairConcurrency > 64) {
    throw new CairnError('E_USAGE', `${source('repair-concurrency')} must be an integer from 1 to 64`);
  }
  return {
    host: args.host,
    port,
    data: checkDataDirectory(args.data, source('data')),
    replicas,
    nodeTimeoutMs,
    gcGraceMs,
    repairConcurrency,
    repairBytesPerSecond: parseByteSize(args.repairRate, source('repair-rate')),
    tls: checkTlsFiles(args.tlsCert, args.tlsKey, source),
    idleTimeoutMs: parseTimerDuration(args.idleTimeout, source('idle-timeout')),
    logLevel: oneOf(args.logLevel, LOG_LEVELS, source('log-level')),
    logFormat: oneOf(args.logFormat, LOG_FORMATS, source('log-format')),
  };
}
