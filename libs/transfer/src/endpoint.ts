import { CairnError } from '@cairn/protocol';

/** Where a client finds the controller unless told otherwise: a local cluster's (`npm start`). */
export const DEFAULT_CONTROLLER = '127.0.0.1:7700';

/** The WebSocket path every Cairn process serves. */
export const WS_PATH = '/ws';

/**
 * Turns what a user may type for a process (`host:port`, `ws(s)://…`, `http(s)://…`) into the
 * WebSocket URL of its `/ws` endpoint. TLS schemes stay TLS.
 */
export function toWebSocketUrl(endpoint: string): string {
  const text = endpoint.trim();
  if (text.length === 0) throw new CairnError('E_USAGE', 'an address is empty');
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `ws://${text}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new CairnError('E_USAGE', `not an address: ${endpoint}`);
  }
  const scheme = { 'ws:': 'ws:', 'http:': 'ws:', 'wss:': 'wss:', 'https:': 'wss:' }[url.protocol];
  if (!scheme) throw new CairnError('E_USAGE', `unsupported scheme in ${endpoint} (use ws, wss, http or https)`);
  url.protocol = scheme;
  url.pathname = WS_PATH;
  url.search = '';
  url.hash = '';
  return url.toString();
}
