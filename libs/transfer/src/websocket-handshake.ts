import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** RFC 6455 §1.3: appended to the client's key before hashing it into the server's accept value. */
const ACCEPT_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/** A server's answer to the upgrade is a few hundred bytes; more than this is not a WebSocket server. */
export const MAX_HANDSHAKE_RESPONSE = 16 * 1024;

/** A fresh Sec-WebSocket-Key: 16 random bytes, base64. */
export function handshakeKey(): string {
  return randomBytes(16).toString('base64');
}

/** The HTTP/1.1 upgrade request for `url` (ws: or wss:). */
export function handshakeRequest(url: URL, key: string): string {
  return [
    `GET ${url.pathname}${url.search} HTTP/1.1`,
    `Host: ${url.host}`,
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Key: ${key}`,
    'Sec-WebSocket-Version: 13',
    '',
    '',
  ].join('\r\n');
}

/** What the server must answer in Sec-WebSocket-Accept for `key`. */
export function expectedAccept(key: string): string {
  return createHash('sha1').update(key + ACCEPT_GUID).digest('base64');
}

export type HandshakeResult =
  | { state: 'incomplete' }
  | { state: 'accepted'; rest: Buffer }
  | { state: 'refused'; reason: string };

/**
 * Reads the server's answer from what arrived so far: 'incomplete' until the blank line that ends the
 * headers, then accepted (with the bytes after it, which are already frames) or refused with a reason.
 * Accepted means status 101, `Upgrade: websocket`, `Connection: upgrade` and the accept value for our
 * key; any extension or subprotocol is refused, since we asked for none.
 */
export function readHandshakeResponse(received: Buffer, key: string): HandshakeResult {
  const end = received.indexOf('\r\n\r\n');
  if (end < 0) {
    return received.length > MAX_HANDSHAKE_RESPONSE ? { state: 'refused', reason: 'the upgrade response is too long' } : { state: 'incomplete' };
  }
  const [statusLine, ...headerLines] = received.subarray(0, end).toString('latin1').split('\r\n');
  const status = /^HTTP\/1\.1 (\d{3})(?: (.*))?$/.exec(statusLine);
  if (!status) return { state: 'refused', reason: 'not an HTTP/1.1 response' };
  if (status[1] !== '101') return { state: 'refused', reason: `HTTP ${status[1]}${status[2] ? ` ${status[2]}` : ''}` };

  const headers = new Map<string, string>();
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    if (colon <= 0) return { state: 'refused', reason: 'a malformed header in the upgrade response' };
    headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  if (headers.get('upgrade')?.toLowerCase() !== 'websocket') return { state: 'refused', reason: 'the server did not upgrade to websocket' };
  if (!headers.get('connection')?.toLowerCase().split(/\s*,\s*/).includes('upgrade')) return { state: 'refused', reason: 'the server did not upgrade the connection' };
  if (headers.get('sec-websocket-accept') !== expectedAccept(key)) return { state: 'refused', reason: 'wrong Sec-WebSocket-Accept' };
  if (headers.has('sec-websocket-extensions')) return { state: 'refused', reason: 'the server chose an extension we did not offer' };
  if (headers.has('sec-websocket-protocol')) return { state: 'refused', reason: 'the server chose a subprotocol we did not offer' };
  return { state: 'accepted', rest: received.subarray(end + 4) };
}

/** A client's Sec-WebSocket-Key: 16 bytes, base64 (RFC 6455 §4.1). */
const CLIENT_KEY = /^[+/0-9A-Za-z]{22}==$/;

export type UpgradeAnswer = { accepted: true; response: string } | { accepted: false; response: string; reason: string };

/**
 * The server's answer to an upgrade request (RFC 6455 §4.2): 101 with the accept value for an HTTP/1.1
 * GET that asks for websocket, version 13, with a well-formed key; otherwise a refusal to write before
 * closing (426 naming the version we speak, for another version; 400 or 405 for the rest). No
 * subprotocol and no extension is ever chosen: offers of them are ignored, and the client then uses none.
 */
export function upgradeResponse({ method, httpVersion, headers }: Pick<IncomingMessage, 'method' | 'httpVersion' | 'headers'>): UpgradeAnswer {
  const refuse = (status: string, reason: string, extra = ''): UpgradeAnswer => ({
    accepted: false,
    reason,
    response: `HTTP/1.1 ${status}\r\nConnection: close\r\n${extra}Content-Length: 0\r\n\r\n`,
  });
  if (method !== 'GET') return refuse('405 Method Not Allowed', 'an upgrade must be a GET');
  if (httpVersion !== '1.1') return refuse('400 Bad Request', 'an upgrade must be HTTP/1.1');
  if (headers.upgrade?.toLowerCase() !== 'websocket') return refuse('400 Bad Request', 'not an upgrade to websocket');
  if (!headers.connection?.toLowerCase().split(/\s*,\s*/).includes('upgrade')) return refuse('400 Bad Request', 'Connection does not ask for an upgrade');
  if (headers['sec-websocket-version'] !== '13') return refuse('426 Upgrade Required', 'unsupported WebSocket version', 'Sec-WebSocket-Version: 13\r\n');
  const key = headers['sec-websocket-key'];
  if (!key || !CLIENT_KEY.test(key)) return refuse('400 Bad Request', 'missing or malformed Sec-WebSocket-Key');
  return {
    accepted: true,
    response: ['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Accept: ${expectedAccept(key)}`, '', ''].join('\r\n'),
  };
}
