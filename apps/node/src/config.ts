import { LOG_FORMATS, LOG_LEVELS, type LogFormat, defaultConfigPath, readConfigFile } from '@cairn/transfer';
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
  tls: { cert: string; key: string } | undefined;
  /** CA certificate (PEM) to trust for wss:// to the controller and other nodes. */
  ca: string | undefined;
  /** Connections without a complete frame either way for this long are closed (slow peers). */
  idleTimeoutMs: number;
  logLevel: string;
  /** `json` (the default) or `pretty` (through pino-pretty; only when asked for). */
  logFormat: LogFormat;
}

/** ~/.config/cairn/node.json (or under $XDG_CONFIG_HOME), read when it exists. */
const CONFIG_PATH = defaultConfigPath('node');

/** Every option, each also read from CAIRN_<OPTION> in the environment. */
const OPTION_NAMES = ['config', 'host', 'port', 'data', 'controller', 'zone', 'capacity', 'scrub-interval', 'advertise', 'cluster-secret-file', 'tls-cert', 'tls-key', 'idle-timeout', 'ca', 'log-level', 'log-format'];

/** Flags > CAIRN_* environment > --config file > defaults (DESIGN.md, stable surface). */
export function parseNodeConfig(argv: string[]): NodeConfig {
  const args = yargs([...envToFlags(process.env, OPTION_NAMES), ...argv])
    .scriptName('cairn-node')
    .usage('$0 [options]\n\nRuns a Cairn storage node: content-addressed chunks on local disk.')
    .option('config', { type: 'string', default: CONFIG_PATH, describe: 'JSON config file with any of the options below (CAIRN_CONFIG)' })
    .config('config', (path: string) => readConfigFile(path, CONFIG_PATH))
    .option('host', { type: 'string', default: '127.0.0.1', describe: 'address to listen on (CAIRN_HOST)' })
    .option('port', { type: 'number', default: 7701, describe: 'port for WebSocket (/ws) and /healthz (CAIRN_PORT)' })
    .option('data', { type: 'string', describe: 'data directory (default ./.cairn/node-<port>) (CAIRN_DATA)' })
    .option('controller', { type: 'string', default: '127.0.0.1:7700', describe: 'controller address (CAIRN_CONTROLLER)' })
    .option('zone', { type: 'string', describe: 'failure zone (rack, room, host) for replica spreading (CAIRN_ZONE)' })
    .option('capacity', { type: 'string', describe: 'bytes this node may use, e.g. 10GiB (default: its disk) (CAIRN_CAPACITY)' })
    .option('scrub-interval', { type: 'string', default: '24h', describe: 'how often every chunk is re-verified (CAIRN_SCRUB_INTERVAL)' })
    .option('advertise', { type: 'string', describe: 'host:port announced to clients (default: host:port) (CAIRN_ADVERTISE)' })
    .option('cluster-secret-file', {
      type: 'string',
      default: './.cairn/controller/cluster-secret',
      describe: 'file holding the cluster secret, when CAIRN_CLUSTER_SECRET is unset (CAIRN_CLUSTER_SECRET_FILE)',
    })
    .option('tls-cert', { type: 'string', describe: 'TLS certificate (PEM): serve wss:// (CAIRN_TLS_CERT)' })
    .option('tls-key', { type: 'string', describe: 'TLS private key (PEM) for --tls-cert (CAIRN_TLS_KEY)' })
    .option('ca', { type: 'string', describe: 'CA certificate (PEM) to trust for wss:// (CAIRN_CA)' })
    .option('idle-timeout', { type: 'string', default: '60s', describe: 'close connections silent this long (CAIRN_IDLE_TIMEOUT)' })
    .option('log-level', { type: 'string', default: 'info', choices: LOG_LEVELS, describe: 'log level (CAIRN_LOG_LEVEL)' })
    .option('log-format', { type: 'string', default: 'json', choices: LOG_FORMATS, describe: 'json lines, or pretty for reading at a terminal (CAIRN_LOG_FORMAT)' })
    .example('$0 --port 7702 --data .cairn/n2', 'a second node on the same machine')
    .example('$0 --zone rack-a --capacity 500GiB', 'a node in zone rack-a that may use 500 GiB')
    .strictOptions()
    .parserConfiguration({ 'duplicate-arguments-array': false })
    .help()
    .version(false)
    .parseSync();
  const port = args.port;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new CairnError('E_USAGE', '--port must be 0-65535');
  if (args.advertise !== undefined && !isNodeAddress(args.advertise)) {
    throw new CairnError('E_USAGE', '--advertise must be host:port or wss://host:port, an IPv6 host in brackets');
  }
  const zone = args.zone === undefined || args.zone === '' ? null : args.zone;
  if (zone !== null && !/^[A-Za-z0-9_.-]{1,64}$/.test(zone)) throw new CairnError('E_USAGE', '--zone must be 1-64 of [A-Za-z0-9_.-]');
  return {
    host: args.host,
    port,
    data: args.data ?? `./.cairn/node-${port}`,
    controller: args.controller,
    zone,
    capacity: args.capacity === undefined ? undefined : parseByteSize(args.capacity, '--capacity'),
    scrubIntervalMs: positiveDuration(args.scrubInterval, '--scrub-interval'),
    advertise: args.advertise,
    clusterSecretFile: args.clusterSecretFile,
    tls: tlsFiles(args.tlsCert, args.tlsKey),
    ca: args.ca,
    idleTimeoutMs: positiveDuration(args.idleTimeout, '--idle-timeout'),
    logLevel: args.logLevel,
    logFormat: args.logFormat as LogFormat,
  };
}

function positiveDuration(value: string, flag: string): number {
  const ms = parseTimerDuration(value, flag); // a timer's delay: a longer one would fire at once
  if (ms < 100) throw new CairnError('E_USAGE', `${flag} must be at least 100ms`);
  return ms;
}

function tlsFiles(cert: string | undefined, key: string | undefined): { cert: string; key: string } | undefined {
  if (Boolean(cert) !== Boolean(key)) throw new CairnError('E_USAGE', '--tls-cert and --tls-key go together');
  return cert && key ? { cert, key } : undefined;
}
