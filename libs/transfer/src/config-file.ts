import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { CairnError } from '@cairn/protocol';

/**
 * The default config file of an app: `$XDG_CONFIG_HOME/cairn/<app>.json`, else
 * `~/.config/cairn/<app>.json` (app: client, controller or node). It is read only if it exists.
 */
export function defaultConfigPath(app: 'client' | 'controller' | 'node', env: NodeJS.ProcessEnv = process.env): string {
  const base = env['XDG_CONFIG_HOME'] || join(homedir(), '.config');
  return join(base, 'cairn', `${app}.json`);
}

/**
 * Reads a JSON config file for yargs: an object of option values. A missing default file is no
 * config at all; a missing explicit file, or bad JSON, is a usage error that names the file.
 */
export function readConfigFile(path: string, defaultPath: string): Record<string, unknown> {
  if (path === defaultPath && !existsSync(path)) return {};
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new CairnError('E_USAGE', `config file ${path}: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CairnError('E_USAGE', `config file ${path} must hold a JSON object`);
  }
  return value as Record<string, unknown>;
}
