/**
 * Environment variables as flags: with options ['node-timeout'], CAIRN_NODE_TIMEOUT=3s becomes
 * '--node-timeout=3s'. Only options the program declares are read, so other CAIRN_* variables (the
 * secrets among them) are never turned into flags or mistaken for unknown options. Callers put these
 * flags before the command line's own and let the last occurrence win, which gives
 * flags > environment > config file > defaults.
 */
export function envToFlags(env: Readonly<Record<string, string | undefined>>, options: readonly string[], prefix = 'CAIRN_'): string[] {
  const flags: string[] = [];
  for (const option of options) {
    const value = env[`${prefix}${option.toUpperCase().replace(/-/g, '_')}`];
    if (value !== undefined && value !== '') flags.push(`--${option}=${value}`);
  }
  return flags;
}
