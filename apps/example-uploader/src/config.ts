import yargs from 'yargs';
import { CairnError, envToFlags, parseTimerDuration } from '@cairn/protocol';
import { DEFAULT_CONTROLLER, LOG_FORMATS, LOG_LEVELS, type LogFormat } from '@cairn/transfer';

export interface UploaderConfig {
  host: string;
  port: number;
  controller: string;
  logLevel: string;
  logFormat: LogFormat;
  /** On SIGTERM or SIGINT, how long requests in flight may run on before they are aborted. */
  drainTimeoutMs: number;
}

/** Every option, each also read from CAIRN_EXAMPLE_<OPTION> in the environment. */
const OPTION_NAMES = ['host', 'port', 'controller', 'log-level', 'log-format', 'drain-timeout'];
const ENV_PREFIX = 'CAIRN_EXAMPLE_';

/** Flags > CAIRN_EXAMPLE_* environment > defaults. */
export function parseUploaderConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): UploaderConfig {
  const args = yargs([...envToFlags(env, OPTION_NAMES, ENV_PREFIX), ...argv])
    .scriptName('example-uploader')
    .usage('$0 [options]\n\nAn HTTP service that stores uploads in a Cairn cluster through CairnClient (an example of embedding Cairn).\nPUT, GET and DELETE /files/<name>; GET /files?prefix=. The Cairn token comes from CAIRN_TOKEN.')
    .option('host', { type: 'string', default: '127.0.0.1', describe: 'address to listen on (CAIRN_EXAMPLE_HOST)' })
    .option('port', { type: 'number', default: 7780, describe: 'HTTP port; 0 picks a free one (CAIRN_EXAMPLE_PORT)' })
    .option('controller', { type: 'string', default: DEFAULT_CONTROLLER, describe: 'Cairn controller: host:port, ws(s):// or http(s):// (CAIRN_EXAMPLE_CONTROLLER)' })
    .option('log-level', { type: 'string', default: 'info', choices: LOG_LEVELS, describe: 'log level (CAIRN_EXAMPLE_LOG_LEVEL)' })
    .option('log-format', { type: 'string', default: 'json', choices: LOG_FORMATS, describe: 'json lines, or pretty for reading at a terminal (CAIRN_EXAMPLE_LOG_FORMAT)' })
    .option('drain-timeout', { type: 'string', default: '10s', describe: 'on SIGTERM/SIGINT, let requests in flight run this long (e.g. 10s, 2m; 0: abort them at once) before aborting them (CAIRN_EXAMPLE_DRAIN_TIMEOUT)' })
    .example('$0 --port 7780 --controller 127.0.0.1:7700', 'the defaults, spelled out')
    .example('CAIRN_EXAMPLE_PORT=8080 $0', 'listen on 8080')
    .strictOptions()
    .parserConfiguration({ 'duplicate-arguments-array': false })
    .help()
    .version(false)
    .exitProcess(true)
    .parseSync();
  const port = args.port;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new CairnError('E_USAGE', '--port must be 0-65535');
  const drainTimeoutMs = parseTimerDuration(args.drainTimeout, '--drain-timeout');
  return { host: args.host, port, controller: args.controller, logLevel: args.logLevel, logFormat: args.logFormat as LogFormat, drainTimeoutMs };
}
