import { CairnError } from './errors';

/**
 * Environment variables as flags: with options ['node-timeout'], CAIRN_NODE_TIMEOUT=3s becomes
 * '--node-timeout=3s'. Only options the program declares are read, so other CAIRN_* variables (the
 * secrets among them) are never turned into flags or mistaken for unknown options. Callers put these
 * flags before the command line's own and let the last occurrence win, which gives
 * flags > environment > config file > defaults.
 *
 * `booleans` names the options among them that are switches: their variables take true/false, 1/0 or
 * yes/no in any case (yargs would read anything but `true` as false, silently), and anything else is
 * an E_USAGE error naming the variable.
 */
export function envToFlags(env: Readonly<Record<string, string | undefined>>, options: readonly string[], prefix = 'CAIRN_', booleans: readonly string[] = []): string[] {
  const flags: string[] = [];
  for (const option of options) {
    const variable = envName(option, prefix);
    const value = env[variable];
    if (value === undefined || value === '') continue;
    flags.push(`--${option}=${booleans.includes(option) ? envBoolean(variable, value) : value}`);
  }
  return flags;
}

/** The variable of an option: `node-timeout` is CAIRN_NODE_TIMEOUT. */
export function envName(option: string, prefix = 'CAIRN_'): string {
  return `${prefix}${option.toUpperCase().replace(/-/g, '_')}`;
}

const TRUE_WORDS = ['true', '1', 'yes'];
const FALSE_WORDS = ['false', '0', 'no'];

function envBoolean(variable: string, value: string): boolean {
  const word = value.trim().toLowerCase();
  if (TRUE_WORDS.includes(word)) return true;
  if (FALSE_WORDS.includes(word)) return false;
  throw new CairnError('E_USAGE', `${variable} must be true or false (or 1/0, yes/no), got ${JSON.stringify(value)}`);
}
