import { isatty } from 'node:tty';
import pino, { type Logger, type LoggerOptions } from 'pino';

/** The levels `--log-level` accepts (pino's, plus `silent`). */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** `--log-format`: JSON lines (the default, for machines), or `pretty` for a person at a terminal. */
export const LOG_FORMATS = ['json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export interface ProcessLoggerOptions {
  level: string;
  format: LogFormat;
  /** Fields on every line, e.g. `{role: 'node', node: 'n-…'}`; pretty output shows them as a prefix. */
  base: Record<string, string>;
  /** Where lines go: file descriptor 1 (stdout, servers; the default) or 2 (stderr, the CLI), or a stream. */
  destination?: 1 | 2 | NodeJS.WritableStream;
}

/**
 * Fields whose values are never logged, whoever passes them (defence in depth: no code logs a
 * secret on purpose). Token *ids* are logged as `tokenId` and stay visible.
 */
const SECRET_KEYS = ['token', 'grant', 'receipt', 'secret', 'clusterSecret', 'authorization', 'proof'];
export const REDACTED_PATHS = [...SECRET_KEYS, ...SECRET_KEYS.map((key) => `*.${key}`)];

/**
 * The logger of a Cairn process (controller, node, client, example-uploader): pino, writing JSON lines,
 * or, only when `format` is `pretty`, human-readable lines through pino-pretty in the same thread
 * (synchronously, so nothing is lost at exit; colours only when the output is a terminal). Pretty
 * printing is never chosen automatically: scripts and log shippers always get JSON unless asked.
 */
export function createProcessLogger({ level, format, base, destination = 1 }: ProcessLoggerOptions): Logger {
  const options: LoggerOptions = { level, base, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } };
  if (format === 'pretty') return pino(options, prettyStream(base, destination));
  // JSON on stdout keeps pino's default destination; the CLI's stderr is written synchronously so its
  // log lines and its one-line error message come out in order.
  if (destination === 1) return pino(options);
  return pino(options, destination === 2 ? pino.destination({ dest: 2, sync: true }) : destination);
}

function prettyStream(base: Record<string, string>, destination: number | NodeJS.WritableStream) {
  // Loaded only when asked for: JSON logging (and the SDK) never load pino-pretty.
  const pretty = require('pino-pretty') as typeof import('pino-pretty');
  const prefix = Object.values(base).join(' ');
  return pretty({
    destination,
    sync: true,
    colorize: typeof destination === 'number' && isatty(destination) && !process.env['NO_COLOR'],
    translateTime: 'SYS:HH:MM:ss.l',
    // The base fields become a short prefix instead of a line of their own under every message.
    ignore: ['pid', 'hostname', ...Object.keys(base)].join(','),
    messageFormat: (log, messageKey) => `${prefix ? `${prefix}: ` : ''}${String(log[messageKey] ?? '')}`,
  });
}
