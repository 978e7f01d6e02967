import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/** Where a local cluster's controller keeps its admin token (relative to the directory `npm start` ran in). */
export const LOCAL_ADMIN_TOKEN_PATH = join('.cairn', 'controller', 'admin-token');

/**
 * The token a client uses when none is given: CAIRN_TOKEN, else the admin token of a local cluster
 * found by looking for `.cairn/controller/admin-token` in the current directory and its parents (as
 * git finds `.git`), so the quick start needs no key handling.
 */
export function defaultToken(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string | undefined {
  if (env['CAIRN_TOKEN']) return env['CAIRN_TOKEN'];
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    const candidate = join(dir, LOCAL_ADMIN_TOKEN_PATH);
    if (existsSync(candidate)) return readTokenFile(candidate);
    if (dirname(dir) === dir) return undefined;
  }
}

export function readTokenFile(path: string): string {
  return readFileSync(path, 'utf8').trim();
}
