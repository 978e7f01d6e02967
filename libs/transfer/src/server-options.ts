import { CairnError, envName, isCairnError } from '@cairn/protocol';

/**
 * What the controller's and a node's option parsing share (their yargs setups differ in the options
 * only), and the client's its config file: a config file checked key by key, where a value came from,
 * and yargs' complaints as one line. Flags > CAIRN_* environment > config file > defaults (DESIGN.md,
 * stable surface).
 */

/** The kind of value an option takes. A duration or a size is a string (`30s`, `10MiB`) or a number (ms, bytes). */
export type OptionKind = 'string' | 'boolean' | 'number' | 'duration' | 'size';

/** A config file as read, kept to name it in errors about its values. */
export interface LoadedConfig {
  path: string;
  values: Record<string, unknown>;
}

const KIND_NAMES: Readonly<Record<OptionKind, string>> = {
  string: 'a string',
  boolean: 'a boolean',
  number: 'a number',
  duration: 'a duration (a string such as "30s", or a number of milliseconds)',
  size: 'a size (a string such as "10GiB", or a number of bytes)',
};

/**
 * Checks a config file's keys and the type of each value against `options` (every option and its
 * kind; `config` is never a key): an unknown key, or a value of the wrong type, is a usage error naming
 * the file and the key. Keys are spelled as the flags (`node-timeout`), or in camelCase as yargs also
 * takes them. `what` names the options in the message (the client's are its `global options`).
 */
export function checkConfigFile({ path, values }: LoadedConfig, options: Readonly<Record<string, OptionKind>>, what = 'options'): LoadedConfig {
  const keys = Object.keys(options).filter((o) => o !== 'config');
  for (const [key, value] of Object.entries(values)) {
    const option = kebabCase(key);
    if (!keys.includes(option)) {
      throw new CairnError('E_USAGE', `config file ${path}: unknown key "${key}" (the keys are the ${what}: ${keys.join(', ')})`);
    }
    const kind = options[option];
    if (!isOfKind(value, kind)) throw new CairnError('E_USAGE', `config file ${path}: ${key} must be ${KIND_NAMES[kind]}, not ${kindOf(value)}`);
  }
  return { path, values };
}

function isOfKind(value: unknown, kind: OptionKind): boolean {
  return kind === 'duration' || kind === 'size' ? typeof value === 'string' || typeof value === 'number' : typeof value === kind;
}

/** `nodeTimeout` as `node-timeout`: a config key or yargs' spelling as the flag is named. */
export function kebabCase(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/**
 * Where an option's value came from, as error messages name it: `--port`, `CAIRN_PORT`, or `port in
 * config file <path>`, following flag > environment > config file (and `--port` for a default).
 */
export function optionSource(option: string, argv: readonly string[], env: NodeJS.ProcessEnv, config: LoadedConfig | undefined): string {
  if (isFlagGiven(option, argv)) return `--${option}`;
  if (env[envName(option)]) return envName(option);
  const key = Object.keys(config?.values ?? {}).find((k) => kebabCase(k) === option);
  return config && key !== undefined ? `${key} in config file ${config.path}` : `--${option}`;
}

export function isFlagGiven(option: string, argv: readonly string[]): boolean {
  return argv.some((word) => word === `--${option}` || word.startsWith(`--${option}=`));
}

/** yargs' complaints (an unknown flag, a flag without its value) as one line that points to `<program> --help`. */
export function yargsUsageError(program: string, message: string | undefined, err: Error | undefined): CairnError {
  if (isCairnError(err)) return err;
  const text = (message || err?.message || 'usage error').replace(/\s*\n\s*/g, ' ').trim();
  return new CairnError('E_USAGE', `${unknownOptions(text) ?? text} (see ${program} --help)`);
}

/**
 * yargs' `Unknown arguments: no-port, noPort` as `unknown option --no-port`: each flag once, as it is
 * typed (yargs adds the camelCase spelling of each).
 */
function unknownOptions(message: string): string | undefined {
  const match = /^Unknown arguments?: (.*)$/.exec(message);
  if (!match) return undefined;
  const names = match[1].split(', ');
  const typed = names.filter((name) => !/[A-Z]/.test(name) || !names.includes(kebabCase(name)));
  return `unknown option${typed.length > 1 ? 's' : ''} ${typed.map((name) => (name.length === 1 ? `-${name}` : `--${name}`)).join(', ')}`;
}

/** A program that takes options only refuses a stray word (a value without its flag, a typo). */
export function refuseStrayWords(program: string, words: ReadonlyArray<string | number>): void {
  if (words.length === 0) return;
  throw new CairnError('E_USAGE', `unexpected argument ${JSON.stringify(String(words[0]))}: ${program} takes options only (see ${program} --help)`);
}

export function oneOf<T extends string>(value: string, choices: readonly T[], what: string): T {
  if (!(choices as readonly string[]).includes(value)) throw new CairnError('E_USAGE', `${what} must be one of ${choices.join(', ')}, got ${JSON.stringify(value)}`);
  return value as T;
}
