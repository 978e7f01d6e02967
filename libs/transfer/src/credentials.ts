import { existsSync, readFileSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { DEFAULT_CONTROLLER, toWebSocketUrl } from './endpoint';

/** Where a local cluster's controller keeps its admin token (relative to the directory `npm start` ran in). */
export const LOCAL_ADMIN_TOKEN_PATH = join('.cairn', 'controller', 'admin-token');

/**
 * The token a client uses when none is given: CAIRN_TOKEN, else the admin token of a local cluster
 * found by looking for `.cairn/controller/admin-token` in the current directory and its parents (as
 * git finds `.git`), so the quick start needs no key handling. That one only for a `controller` on
 * this machine (`isOnThisMachine`): run from inside a checkout against another cluster, the local
 * cluster's admin token must not be sent there.
 */
export function defaultToken(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd(), controller = DEFAULT_CONTROLLER): string | undefined {
  if (env['CAIRN_TOKEN']) return env['CAIRN_TOKEN'];
  if (!isOnThisMachine(controller)) return undefined;
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    const candidate = join(dir, LOCAL_ADMIN_TOKEN_PATH);
    if (existsSync(candidate)) return readTokenFile(candidate);
    if (dirname(dir) === dir) return undefined;
  }
}

/**
 * Whether `controller` (as a user types it: `host:port`, `ws(s)://…`) names this machine: a loopback
 * address, `localhost`, this machine's host name, or an address of one of its interfaces.
 */
export function isOnThisMachine(controller: string): boolean {
  let host: string;
  try {
    host = new URL(toWebSocketUrl(controller)).hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  } catch {
    return false;
  }
  if (host === 'localhost' || host === '::1' || (isIPv4(host) && host.startsWith('127.'))) return true;
  if (host === hostname().toLowerCase()) return true;
  const local = Object.values(networkInterfaces()).flatMap((addresses) => (addresses ?? []).map((a) => a.address.toLowerCase()));
  return local.includes(host);
}

export function readTokenFile(path: string): string {
  return readFileSync(path, 'utf8').trim();
}
