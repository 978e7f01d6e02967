import { readFileSync } from 'node:fs';
import { CairnError, MAX_REPLICAS, envName, parseTimerDuration } from '@cairn/protocol';
import { type LoadedConfig, type LogFormat, type OptionKind, checkConfigFile, kebabCase } from '@cairn/transfer';

/**
 * The global options and the kind of value each takes. Each is also CAIRN_<NAME> in the environment
 * and, but `config`, a key of the config file: flag > environment > config file > default.
 */
export const GLOBAL_OPTIONS = {
  config: 'string',
  controller: 'string',
  json: 'boolean',
  quiet: 'boolean',
  replicas: 'number',
  ca: 'string',
  timeout: 'duration',
  'log-level': 'string',
  'log-format': 'string',
} as const satisfies Record<string, OptionKind>;

export type GlobalOption = keyof typeof GLOBAL_OPTIONS;

export const GLOBAL_OPTION_NAMES = Object.keys(GLOBAL_OPTIONS) as GlobalOption[];
export const SWITCHES = GLOBAL_OPTION_NAMES.filter((option) => GLOBAL_OPTIONS[option] === 'boolean');

export type { LoadedConfig };

/**
 * Checks a config file's keys and the type of each value (a string, a boolean or a number, as the flag
 * takes): a wrong one is a usage error naming the file and the key, not a crash or a value ignored.
 */
export function checkConfig(config: LoadedConfig): LoadedConfig {
  return checkConfigFile(config, GLOBAL_OPTIONS, 'global options');
}

/**
 * Where a global option's value came from, as error messages name it: `--timeout`, `CAIRN_TIMEOUT`, or
 * `timeout in config file <path>`, following flag > environment > config file. `commandLine` is the
 * user's own, without the flags made of the environment.
 */
export function optionSource(option: GlobalOption, commandLine: readonly string[], env: NodeJS.ProcessEnv, config: LoadedConfig | undefined): string {
  const end = commandLine.indexOf('--');
  const flags = end < 0 ? commandLine : commandLine.slice(0, end);
  if (flags.some((word) => word === `--${option}` || word.startsWith(`--${option}=`))) return `--${option}`;
  if (env[envName(option)]) return envName(option);
  const key = Object.keys(config?.values ?? {}).find((k) => kebabCase(k) === option);
  return config && key !== undefined ? `${key} in config file ${config.path}` : `--${option}`;
}

/** The global options as yargs parsed them. */
export interface GlobalArgs {
  controller: string;
  json: boolean;
  quiet: boolean;
  replicas?: number;
  ca?: string;
  timeout?: string;
  logLevel: string;
  logFormat: string;
}

/** The global options checked, ready for a command. */
export interface GlobalSettings {
  controller: string;
  json: boolean;
  quiet: boolean;
  replicas?: number;
  requestTimeoutMs?: number;
  /** The CA certificate (PEM) to trust, read from --ca. */
  ca?: Buffer;
  logLevel: string;
  logFormat: LogFormat;
}

/** Checks the values yargs cannot (ranges, durations, the CA file); each error names where the value came from. */
export function globalSettings(args: GlobalArgs, source: (option: GlobalOption) => string): GlobalSettings {
  return {
    controller: args.controller,
    json: args.json,
    quiet: args.quiet,
    replicas: args.replicas === undefined ? undefined : checkReplicas(args.replicas, source('replicas')),
    requestTimeoutMs: args.timeout === undefined ? undefined : parseTimeout(args.timeout, source('timeout')),
    ca: args.ca ? readCa(args.ca, source('ca')) : undefined,
    logLevel: args.logLevel,
    logFormat: args.logFormat as LogFormat,
  };
}

function checkReplicas(replicas: number, what: string): number {
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > MAX_REPLICAS) throw new CairnError('E_USAGE', `${what} must be an integer from 1 to ${MAX_REPLICAS}`);
  return replicas;
}

/**
 * `--timeout`: a duration of at least a second (a bare number would be milliseconds, and fail every
 * request), and at most what a Node timer takes.
 */
function parseTimeout(value: string, what: string): number {
  const ms = parseTimerDuration(value, what);
  if (ms < 1000) throw new CairnError('E_USAGE', `${what} must be at least 1s, got ${value}`);
  return ms;
}

function readCa(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new CairnError('E_USAGE', `cannot read the CA file ${path} (${what}): ${(err as Error).message}`);
  }
}
