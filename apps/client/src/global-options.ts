import { readFileSync } from 'node:fs';
import { CairnError, MAX_REPLICAS, envName, parseTimerDuration } from '@cairn/protocol';
import type { LogFormat } from '@cairn/transfer';

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
} as const;

export type GlobalOption = keyof typeof GLOBAL_OPTIONS;

export const GLOBAL_OPTION_NAMES = Object.keys(GLOBAL_OPTIONS) as GlobalOption[];
export const SWITCHES = GLOBAL_OPTION_NAMES.filter((option) => GLOBAL_OPTIONS[option] === 'boolean');

/** A config file as read, kept to name it in errors about its values. */
export interface LoadedConfig {
  path: string;
  values: Record<string, unknown>;
}

/**
 * Checks a config file's keys and the type of each value (a string, a boolean or a number, as the flag
 * takes): a wrong one is a usage error naming the file and the key, not a crash or a value ignored.
 * Keys are spelled as the flags (`log-level`), or in camelCase as yargs also takes them.
 */
export function checkConfig({ path, values }: LoadedConfig): LoadedConfig {
  for (const [key, value] of Object.entries(values)) {
    const option = kebabCase(key);
    if (option === 'config' || !(option in GLOBAL_OPTIONS)) {
      throw new CairnError('E_USAGE', `config file ${path}: unknown key "${key}" (the keys are the global options: ${GLOBAL_OPTION_NAMES.filter((o) => o !== 'config').join(', ')})`);
    }
    const kind = GLOBAL_OPTIONS[option as GlobalOption];
    if (!isOfKind(value, kind)) throw new CairnError('E_USAGE', `config file ${path}: ${key} must be ${KIND_NAMES[kind]}, not ${kindOf(value)}`);
  }
  return { path, values };
}

type Kind = (typeof GLOBAL_OPTIONS)[GlobalOption];

/** A duration is a string (`30s`) or, as the flag's bare number is, a number of milliseconds. */
const KIND_NAMES: Readonly<Record<Kind, string>> = {
  string: 'a string',
  boolean: 'a boolean',
  number: 'a number',
  duration: 'a duration (a string such as "30s", or a number of milliseconds)',
};

function isOfKind(value: unknown, kind: Kind): boolean {
  return kind === 'duration' ? typeof value === 'string' || typeof value === 'number' : typeof value === kind;
}

function kebabCase(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
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
