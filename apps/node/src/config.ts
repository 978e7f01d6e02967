import {
  LOG_FORMATS,
  LOG_LEVELS,
  type LoadedConfig,
  type LogFormat,
  type OptionKind,
  checkCaFile,
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
import { CairnError, envToFlags, isNodeAddress, parseByteSize, parseTimerDuration } from '@cairn/protocol';

export interface NodeConfig {
  host: string;
  port: number;
  data: string;
  controller: string;
  zone: string | null;
  capacity: number | undefined;
  scrubIntervalMs: number;
  /** host:port the node tells the controller (and so clients) to reach it at. */
  advertise: string | undefined;
  /** Where to read the cluster secret when CAIRN_CLUSTER_SECRET is unset. */
  clusterSecretFile: string;
  /** Serve wss:// with this certificate and key (both read, and checked to match). */
  tls: { cert: string; key: string } | undefined;
  /** CA certificate (PEM, checked to be one) to trust for wss:// to the controller and other nodes. */
  ca: string | undefined;
  /** Connections without a complete frame either way for this long are closed (slow peers). */
  idleTimeoutMs: number;
  logLevel: string;
  /** `json` (the default) or `pretty` (through pino-pretty; only when asked for). */
  logFormat: LogFormat;
}

/** ~/.config/cairn/node.json (or under $XDG_CONFIG_HOME), read when it exists. */
const CONFIG_PATH = defaultConfigPath('node');

/**
 * Every option and the kind of value it takes. Each is also CAIRN_<OPTION> in the environment and, but
 * `config`, a key of the config file. A duration or a size is a string (`30s`, `10GiB`) or a number
 * (milliseconds, bytes).
 */
const OPTIONS = {
  config: 'string',
  host: 'string',
  port: 'number',
  data: 'string',
  controller: 'string',
  zone: 'string',
  capacity: 'size',
  'scrub-interval': 'duration',
  advertise: 'string',
  'cluster-secret-file': 'string',
  'tls-cert': 'string',
  'tls-key': 'string',
  'idle-timeout': 'duration',
  ca: 'string',
  'log-level': 'string',
  'log-format': 'string',
} as const satisfies Record<string, OptionKind>;

type Option = keyof typeof OPTIONS;
const OPTION_NAMES = Object.keys(OPTIONS) as Option[];

const ENVIRONMENT_HELP = [
  'Every option is also CAIRN_<NAME> in the environment (CAIRN_SCRUB_INTERVAL for --scrub-interval, CAIRN_CONFIG for --config) and, but --config, a key of the config file.',
  'A flag wins over the environment, the environment over the config file, the config file over the default.',
  'The cluster secret comes from CAIRN_CLUSTER_SECRET (at least 16 characters), never a flag; unset, from --cluster-secret-file.',
].join('\n');

/**
 * Flags > CAIRN_* environment > --config file > defaults (DESIGN.md, stable surface). A mistake is a
 * one-line E_USAGE error naming where the value came from (`--port`, `CAIRN_PORT`, `port in config
 * file …`): an unknown flag, a word that is not an option, a config file that is not a JSON object of
 * known options, a value out of range, TLS or CA files that cannot be read or used, a --data that is
 * not a directory. `--help` prints the options and exits.
 */
export function parseNodeConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): NodeConfig {
  let config: LoadedConfig | undefined;
  let configError: unknown; // yargs passes on only the message of what the config function throws
  const source = (option: Option) => optionSource(option, argv, env, config);
  // Only the variables of options not given as flags: yargs would add up `--replicas=2 --replicas 1` (to 3).
  const fromEnv = envToFlags(env, OPTION_NAMES.filter((option) => !isFlagGiven(option, argv)));
  const args = yargs([...fromEnv, ...argv])
    .scriptName('cairn-node')
    .usage('$0 [options]\n\nRuns a Cairn storage node: content-addressed chunks on local disk.')
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
    .option('port', { type: 'number', default: 7701, requiresArg: true, describe: 'port for WebSocket (/ws), /healthz, /readyz and /metrics (CAIRN_PORT)' })
    .option('data', { type: 'string', requiresArg: true, describe: 'data directory (default ./.cairn/node-<port>) (CAIRN_DATA)' })
    .option('controller', { type: 'string', default: '127.0.0.1:7700', requiresArg: true, describe: 'controller address (CAIRN_CONTROLLER)' })
    .option('zone', { type: 'string', describe: 'failure zone (rack, room, host) for replica spreading (CAIRN_ZONE)' })
    .option('capacity', { type: 'string', requiresArg: true, describe: 'bytes this node may use, e.g. 10GiB (default: its disk) (CAIRN_CAPACITY)' })
    .option('scrub-interval', { type: 'string', default: '24h', requiresArg: true, describe: 'how often every chunk is re-verified (CAIRN_SCRUB_INTERVAL)' })
    .option('advertise', { type: 'string', requiresArg: true, describe: 'host:port announced to clients (default: host:port) (CAIRN_ADVERTISE)' })
    .option('cluster-secret-file', {
      type: 'string',
      default: './.cairn/controller/cluster-secret',
      requiresArg: true,
      describe: 'file holding the cluster secret, when CAIRN_CLUSTER_SECRET is unset (CAIRN_CLUSTER_SECRET_FILE)',
    })
    .option('tls-cert', { type: 'string', requiresArg: true, describe: 'TLS certificate (PEM): serve wss:// (CAIRN_TLS_CERT)' })
    .option('tls-key', { type: 'string', requiresArg: true, describe: 'TLS private key (PEM, unencrypted) for --tls-cert (CAIRN_TLS_KEY)' })
    .option('ca', { type: 'string', requiresArg: true, describe: 'CA certificate (PEM) to trust for wss:// (CAIRN_CA)' })
    .option('idle-timeout', { type: 'string', default: '60s', requiresArg: true, describe: 'close connections silent this long (CAIRN_IDLE_TIMEOUT)' })
    // Checked below rather than by yargs' `choices`, so that a wrong one is named by where it came from.
    .option('log-level', { type: 'string', default: 'info', requiresArg: true, describe: `log level: ${LOG_LEVELS.join(', ')} (CAIRN_LOG_LEVEL)` })
    .option('log-format', { type: 'string', default: 'json', requiresArg: true, describe: 'json lines, or pretty for reading at a terminal (CAIRN_LOG_FORMAT)' })
    .example('$0 --port 7702 --data .cairn/n2', 'a second node on the same machine')
    .example('$0 --zone rack-a --capacity 500GiB', 'a node in zone rack-a that may use 500 GiB')
    .strictOptions()
    // No switches here: `--no-port` would otherwise be read as port 0 (any free port).
    .parserConfiguration({ 'duplicate-arguments-array': false, 'boolean-negation': false })
    .help()
    .version(false)
    .exitProcess(true) // for --help only: every mistake goes through fail()
    .fail((message, err) => {
      throw configError ?? yargsUsageError('cairn-node', message, err);
    })
    .parseSync();
  refuseStrayWords('cairn-node', args._);
  const port = args.port;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new CairnError('E_USAGE', `${source('port')} must be 0-65535`);
  if (args.advertise !== undefined && !isNodeAddress(args.advertise)) {
    throw new CairnError('E_USAGE', `${source('advertise')} must be host:port or wss://host:port, an IPv6 host in brackets`);
  }
  const zone = args.zone === undefined || args.zone === '' ? null : args.zone;
  if (zone !== null && !/^[A-Za-z0-9_.-]{1,64}$/.test(zone)) throw new CairnError('E_USAGE', `${source('zone')} must be 1-64 of [A-Za-z0-9_.-]`);
  return {
    host: args.host,
    port,
    data: checkDataDirectory(args.data ?? `./.cairn/node-${port}`, source('data')),
    controller: args.controller,
    zone,
    capacity: args.capacity === undefined ? undefined : positiveSize(args.capacity, source('capacity')),
    scrubIntervalMs: positiveDuration(args.scrubInterval, source('scrub-interval')),
    advertise: args.advertise,
    clusterSecretFile: args.clusterSecretFile,
    tls: checkTlsFiles(args.tlsCert, args.tlsKey, source),
    ca: args.ca ? checkCaFile(args.ca, source('ca')) : undefined,
    idleTimeoutMs: positiveDuration(args.idleTimeout, source('idle-timeout')),
    logLevel: oneOf(args.logLevel, LOG_LEVELS, source('log-level')),
    logFormat: oneOf(args.logFormat, LOG_FORMATS, source('log-format')),
  };
}

function positiveDuration(value: string, what: string): number {
  const ms = parseTimerDuration(value, what); // a timer's delay: a longer one would fire at once
  if (ms < 100) throw new CairnError('E_USAGE', `${what} must be at least 100ms`);
  return ms;
}

/** --capacity: 0 would be a node that can never store a chunk, yet is counted for placement. */
function positiveSize(value: string, what: string): number {
  const bytes = parseByteSize(value, what);
  if (bytes <= 0) throw new CairnError('E_USAGE', `${what} must be more than 0, got ${value}`);
  return bytes;
}

