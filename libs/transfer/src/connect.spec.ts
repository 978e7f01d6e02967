import { once } from 'node:events';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { readFile } from 'node:fs/promises';
import WebSocket, { WebSocketServer } from 'ws';
import type { CairnError } from '@cairn/protocol';
import { connectPeer, describeConnectError } from './connect';
import type { RpcPeer } from './rpc-peer';
import { settledBacklog } from './testing/settled-backlog';
import { makeSelfSignedCert, type SelfSignedCert } from './testing/self-signed-cert';

const MiB = 1024 * 1024;

describe('connectPeer over ws: pings', () => {
  let server: WebSocketServer;
  let peer: RpcPeer | undefined;

  beforeEach(async () => {
    server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await once(server, 'listening');
  });

  afterEach(async () => {
    peer?.close();
    for (const client of server.clients) client.terminate();
    await new Promise((resolve) => server.close(resolve));
  });

  /** Connects, and returns the client's `ws` socket and the server's end of it. */
  async function connect(): Promise<{ client: WebSocket; remote: WebSocket }> {
    const accepted = once(server, 'connection');
    peer = await connectPeer(`127.0.0.1:${(server.address() as AddressInfo).port}`);
    const [remote] = (await accepted) as [WebSocket];
    return { client: peer.socket as unknown as WebSocket, remote };
  }

  it('answers a ping with a pong carrying the same bytes', async () => {
    const { remote } = await connect();
    const pong = once(remote, 'pong');
    remote.ping(Buffer.from('are you there'));
    expect(String((await pong)[0])).toBe('are you there');
  });

  it('leaves pings unanswered while its peer is not reading what waits to be sent', async () => {
    const { client, remote } = await connect();
    remote.pause(); // reads nothing from here on
    client.send(Buffer.alloc(24 * MiB, 1)); // more than the kernel's buffers take: the rest waits here
    const settled = await settledBacklog(client);
    expect(settled).toBeGreaterThan(MiB);

    let pings = 0;
    client.on('ping', () => pings++);
    for (let i = 0; i < 2000; i++) remote.ping(Buffer.alloc(125, i));
    while (pings < 2000) await new Promise((resolve) => setTimeout(resolve, 5));

    // Each ping answered would have queued a pong here: a peer that pings and never reads must not grow us.
    expect(client.bufferedAmount).toBeLessThanOrEqual(settled);
  });
});

describe('connectPeer: what a failed connection says', () => {
  let made: SelfSignedCert;
  const servers: HttpServer[] = [];

  beforeAll(async () => {
    made = await makeSelfSignedCert();
  });
  afterAll(async () => {
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
    await made?.remove();
  });

  /** A WebSocket server on 127.0.0.1, over TLS with the self-signed certificate or plain; its port. */
  async function serve(tls: boolean): Promise<number> {
    const server = tls ? createHttpsServer({ cert: await readFile(made.cert), key: await readFile(made.key) }) : createHttpServer();
    new WebSocketServer({ server });
    servers.push(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return (server.address() as AddressInfo).port;
  }

  /** The error connectPeer fails with, as `code: message`. */
  const refusal = (endpoint: string, options: { ca?: Buffer } = {}) =>
    connectPeer(endpoint, options).then(
      (peer) => {
        peer.close();
        return 'connected';
      },
      (err: CairnError) => `${err.code}: ${err.message}`,
    );

  it('wss:// to a certificate it does not trust: pass --ca with the CA that signed it; with it, it connects', async () => {
    const port = await serve(true);
    expect(await refusal(`wss://127.0.0.1:${port}`)).toBe(
      `E_UNAVAILABLE: cannot reach wss://127.0.0.1:${port}: DEPTH_ZERO_SELF_SIGNED_CERT: the server's certificate is not trusted: pass --ca with the CA that signed it (CAIRN_CA)`,
    );
    expect(await refusal(`wss://127.0.0.1:${port}`, { ca: made.ca })).toBe('connected');
  });

  it('wss:// by a name the certificate does not list: says so, and which names it lists', async () => {
    const port = await serve(true);
    expect(await refusal(`wss://localhost:${port}`, { ca: made.ca })).toMatch(
      new RegExp(`^E_UNAVAILABLE: cannot reach wss://localhost:${port}: ERR_TLS_CERT_ALTNAME_INVALID: the server's certificate is not for this address: connect by a host name or IP address it lists \\(.*localhost.*\\)$`),
    );
  });

  it('plain host:port to a port serving TLS: if that port serves TLS, use wss://', async () => {
    const port = await serve(true);
    expect(await refusal(`127.0.0.1:${port}`)).toMatch(new RegExp(`^E_UNAVAILABLE: cannot reach 127\\.0\\.0\\.1:${port}: .* \\(if that port serves TLS, use wss://\\)$`));
  });

  it('wss:// to a port serving plain WebSocket: that port does not seem to serve TLS', async () => {
    const port = await serve(false);
    expect(await refusal(`wss://127.0.0.1:${port}`)).toMatch(/: that port does not seem to serve TLS \(if it serves plain WebSocket, use ws:\/\/ or host:port\)$/);
  });

  it('a port nobody listens on: the system\'s code, with no hint about TLS', async () => {
    const port = await serve(false);
    await new Promise((resolve) => servers.pop()?.close(resolve));
    expect(await refusal(`127.0.0.1:${port}`)).toBe(`E_UNAVAILABLE: cannot reach 127.0.0.1:${port}: ECONNREFUSED`);
  });

  const failure = (code: string | undefined, message = 'x', extra: Record<string, unknown> = {}) => Object.assign(new Error(message), { code, ...extra });

  it.each([
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', "UNABLE_TO_VERIFY_LEAF_SIGNATURE: the server's certificate is not trusted: pass --ca with the CA that signed it (CAIRN_CA)"],
    ['SELF_SIGNED_CERT_IN_CHAIN', "SELF_SIGNED_CERT_IN_CHAIN: the server's certificate is not trusted: pass --ca with the CA that signed it (CAIRN_CA)"],
    ['UNABLE_TO_GET_ISSUER_CERT_LOCALLY', "UNABLE_TO_GET_ISSUER_CERT_LOCALLY: the server's certificate is not trusted: pass --ca with the CA that signed it (CAIRN_CA)"],
    ['CERT_HAS_EXPIRED', "CERT_HAS_EXPIRED: the server's certificate has expired: renew it (--tls-cert on the server)"],
    ['CERT_NOT_YET_VALID', "CERT_NOT_YET_VALID: the server's certificate is not valid yet: is a clock wrong?"],
    ['ECONNREFUSED', 'ECONNREFUSED'],
  ])('%s over wss://', (code, said) => {
    expect(describeConnectError(failure(code), 'wss://10.0.0.1:7700/ws')).toBe(said);
  });

  it('says a reset is maybe TLS only for a plain connection, and an error with no code by its message', () => {
    expect(describeConnectError(failure('ECONNRESET'), 'ws://10.0.0.1:7700/ws')).toBe('ECONNRESET (if that port serves TLS, use wss://)');
    expect(describeConnectError(failure('ECONNRESET'), 'wss://10.0.0.1:7700/ws')).toBe('ECONNRESET');
    expect(describeConnectError(failure(undefined, 'Opening handshake has timed out'), 'ws://10.0.0.1:7700/ws')).toBe('Opening handshake has timed out');
    expect(describeConnectError(failure('ERR_TLS_CERT_ALTNAME_INVALID', 'x', { reason: "IP: 10.0.0.1 is not in the cert's list: 127.0.0.1" }), 'wss://10.0.0.1:7700/ws')).toBe(
      "ERR_TLS_CERT_ALTNAME_INVALID: the server's certificate is not for this address: connect by a host name or IP address it lists (IP: 10.0.0.1 is not in the cert's list: 127.0.0.1)",
    );
  });
});
