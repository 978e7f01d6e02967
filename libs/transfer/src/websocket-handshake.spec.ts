import fc from 'fast-check';
import { MAX_HANDSHAKE_RESPONSE, expectedAccept, handshakeKey, handshakeRequest, readHandshakeResponse, upgradeResponse } from './websocket-handshake';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

function response(lines: string[], rest = ''): Buffer {
  return Buffer.from([...lines, '', ''].join('\r\n') + rest, 'latin1');
}

const GOOD = ['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Accept: ${expectedAccept(KEY)}`];

describe('websocket handshake', () => {
  it('computes the accept value of RFC 6455 §1.3', () => {
    expect(expectedAccept(KEY)).toBe('s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
  });

  it('asks for an upgrade of the URL path with a fresh 16-byte key', () => {
    const key = handshakeKey();
    expect(Buffer.from(key, 'base64')).toHaveLength(16);
    expect(handshakeKey()).not.toBe(key);
    expect(handshakeRequest(new URL('ws://127.0.0.1:7000/ws'), key)).toBe(
      `GET /ws HTTP/1.1\r\nHost: 127.0.0.1:7000\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
  });

  it('accepts a 101 with the right accept value, in any header case, and hands back the bytes after it', () => {
    expect(readHandshakeResponse(response(GOOD, '\x82\x01x'), KEY)).toEqual({ state: 'accepted', rest: Buffer.from('\x82\x01x', 'latin1') });
    const shouted = ['HTTP/1.1 101 Switching Protocols', 'UPGRADE: WebSocket', 'connection: keep-alive, Upgrade', `sec-websocket-accept: ${expectedAccept(KEY)}`];
    expect(readHandshakeResponse(response(shouted), KEY)).toMatchObject({ state: 'accepted' });
  });

  it('waits for the end of the headers', () => {
    const whole = response(GOOD);
    expect(readHandshakeResponse(whole.subarray(0, whole.length - 1), KEY)).toEqual({ state: 'incomplete' });
  });

  it.each([
    ['another status', ['HTTP/1.1 404 Not Found'], /HTTP 404 Not Found/],
    ['not HTTP/1.1', ['SSH-2.0-OpenSSH'], /not an HTTP\/1.1 response/],
    ['no upgrade', GOOD.filter((l) => !l.startsWith('Upgrade')), /did not upgrade to websocket/],
    ['no connection upgrade', GOOD.filter((l) => !l.startsWith('Connection')), /did not upgrade the connection/],
    ['a wrong accept value', [...GOOD.slice(0, 3), 'Sec-WebSocket-Accept: AAAA'], /wrong Sec-WebSocket-Accept/],
    ['an extension we did not offer', [...GOOD, 'Sec-WebSocket-Extensions: permessage-deflate'], /extension/],
    ['a subprotocol we did not offer', [...GOOD, 'Sec-WebSocket-Protocol: chat'], /subprotocol/],
    ['a header without a colon', [...GOOD, 'garbage'], /malformed header/],
  ])('refuses %s', (_name, lines, reason) => {
    const result = readHandshakeResponse(response(lines), KEY);
    expect(result.state).toBe('refused');
    expect(result.state === 'refused' && result.reason).toMatch(reason);
  });

  it('refuses an answer that never ends its headers', () => {
    expect(readHandshakeResponse(Buffer.alloc(MAX_HANDSHAKE_RESPONSE + 1, 'a'), KEY)).toEqual({ state: 'refused', reason: 'the upgrade response is too long' });
  });

  it('never throws, and accepts only what carries the right accept value, whatever the bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.boolean(), (bytes, withEnd) => {
        const received = withEnd ? Buffer.concat([bytes, Buffer.from('\r\n\r\n')]) : Buffer.from(bytes);
        const result = readHandshakeResponse(received, KEY);
        if (result.state === 'accepted') expect(received.includes(expectedAccept(KEY))).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  describe("a server's answer to an upgrade", () => {
    const request = (headers: Record<string, string>, method = 'GET', httpVersion = '1.1') => ({
      method,
      httpVersion,
      headers: { host: '127.0.0.1', upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-version': '13', 'sec-websocket-key': KEY, ...headers },
    });

    it('switches protocols with the accept value for the key, choosing no extension or subprotocol offered', () => {
      const answer = upgradeResponse(request({ connection: 'keep-alive, Upgrade', upgrade: 'WebSocket', 'sec-websocket-extensions': 'permessage-deflate', 'sec-websocket-protocol': 'chat' }));
      expect(answer).toEqual({
        accepted: true,
        response: `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${expectedAccept(KEY)}\r\n\r\n`,
      });
      // what our own client checks the answer with
      expect(readHandshakeResponse(Buffer.from(answer.response), KEY)).toMatchObject({ state: 'accepted' });
    });

    it.each([
      ['a POST', request({}, 'POST'), '405', /must be a GET/],
      ['HTTP/1.0', request({}, 'GET', '1.0'), '400', /HTTP\/1\.1/],
      ['an upgrade to something else', request({ upgrade: 'h2c' }), '400', /not an upgrade to websocket/],
      ['a Connection without upgrade', request({ connection: 'keep-alive' }), '400', /does not ask for an upgrade/],
      ['another WebSocket version', request({ 'sec-websocket-version': '8' }), '426', /unsupported WebSocket version/],
      ['a key that is not 16 bytes of base64', request({ 'sec-websocket-key': '!!!' }), '400', /Sec-WebSocket-Key/],
      ['no key', { method: 'GET', httpVersion: '1.1', headers: { upgrade: 'websocket', connection: 'upgrade', 'sec-websocket-version': '13' } }, '400', /Sec-WebSocket-Key/],
    ])('refuses %s', (_name, req, status, why) => {
      const answer = upgradeResponse(req);
      expect(answer.accepted).toBe(false);
      expect(answer.response).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
      expect(answer.response).toMatch(/Connection: close\r\n/);
      expect(answer.response.endsWith('\r\n\r\n')).toBe(true);
      if (!answer.accepted) expect(answer.reason).toMatch(why);
      if (status === '426') expect(answer.response).toMatch(/Sec-WebSocket-Version: 13\r\n/);
    });
  });
});
