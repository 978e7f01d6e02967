import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { type AddressInfo, type Socket, createServer as createTcpServer } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { LeanWebSocket } from './lean-websocket';
import { makeSelfSignedCert, type SelfSignedCert } from './testing/self-signed-cert';

const MiB = 1024 * 1024;
const OPTIONS = { maxPayload: 8 * MiB, handshakeTimeout: 5_000 };

interface TestServer {
  url: string;
  wss: WebSocketServer;
  /** The server's end of the next connection. */
  connection: () => Promise<WebSocket>;
  close: () => Promise<void>;
}

/** A `ws` server on 127.0.0.1 at a random port, behind an http(s) server of its own. */
async function startServer(server: HttpServer = createHttpServer(), scheme = 'ws'): Promise<TestServer> {
  const wss = new WebSocketServer({ server, path: '/ws', perMessageDeflate: false, maxPayload: 8 * MiB });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `${scheme}://127.0.0.1:${port}/ws`,
    wss,
    connection: () => once(wss, 'connection').then(([ws]) => ws as WebSocket),
    close: async () => {
      for (const client of wss.clients) client.terminate();
      wss.close();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** A LeanWebSocket connected to `server`, and the server's end of it. */
async function connect(server: TestServer, options: typeof OPTIONS & { ca?: Buffer } = OPTIONS): Promise<{ client: LeanWebSocket; peer: WebSocket }> {
  const accepted = server.connection();
  const client = new LeanWebSocket(server.url, options);
  await opened(client);
  return { client, peer: await accepted };
}

function opened(socket: LeanWebSocket): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
  });
}

function nextMessage(socket: LeanWebSocket | WebSocket): Promise<{ data: Buffer; isBinary: boolean }> {
  return once(socket, 'message').then(([data, isBinary]) => ({ data: data as Buffer, isBinary: isBinary as boolean }));
}

/** The next close (not `events.once`, which would reject on an 'error' emitted first). */
function closed(socket: LeanWebSocket | WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => socket.once('close', (code: number, reason: Buffer) => resolve({ code, reason: String(reason) })));
}

describe('LeanWebSocket', () => {
  let server: TestServer;

  beforeEach(async () => {
    server = await startServer();
  });

  afterEach(async () => {
    await server.close();
  });

  it('exchanges binary messages of every length form with a ws server, both ways', async () => {
    const { client, peer } = await connect(server);
    for (const size of [0, 5, 125, 126, 65_535, 65_536, 4 * MiB + 17]) {
      const payload = Buffer.alloc(size, size & 0xff);
      const atServer = nextMessage(peer);
      client.send(payload, { binary: true });
      expect((await atServer).data.equals(payload)).toBe(true);

      const atClient = nextMessage(client);
      peer.send(payload, { binary: true });
      const got = await atClient;
      expect(got).toMatchObject({ isBinary: true });
      expect(got.data.equals(payload)).toBe(true);
    }
    client.close();
  });

  it('sends one message from several parts, and reports text messages as not binary', async () => {
    const { client, peer } = await connect(server);
    const atServer = nextMessage(peer);
    const written = new Promise<void>((resolve, reject) => client.sendParts([Buffer.from('head:'), Buffer.alloc(100_000, 1)], (err) => (err ? reject(err) : resolve())));
    await written;
    const got = await atServer;
    expect(got.data.length).toBe(100_005);
    expect(got.data.subarray(0, 5).toString()).toBe('head:');

    const text = nextMessage(client);
    peer.send('hello');
    expect(await text).toEqual({ data: Buffer.from('hello'), isBinary: false });
    client.close();
  });

  it('writes the messages sent in one turn with one system call, in order', async () => {
    const { client, peer } = await connect(server);
    const socket = (client as unknown as { socket: Socket }).socket;
    const writev = jest.spyOn(socket as unknown as { _writev: (...args: unknown[]) => void }, '_writev');
    const write = jest.spyOn(socket as unknown as { _write: (...args: unknown[]) => void }, '_write');
    const received: string[] = [];
    const all = new Promise<void>((resolve) =>
      peer.on('message', (data: Buffer) => {
        received.push(String(data));
        if (received.length === 5) resolve();
      }),
    );
    for (let i = 0; i < 5; i++) client.send(Buffer.from(`message ${i}`));
    expect(writev).not.toHaveBeenCalled(); // held until the turn ends
    await all;
    expect(received).toEqual([0, 1, 2, 3, 4].map((i) => `message ${i}`));
    expect(writev.mock.calls.length + write.mock.calls.length).toBe(1);
    client.close();
  });

  it('still writes what was sent in the turn it is terminated in', async () => {
    const { client, peer } = await connect(server);
    const atServer = nextMessage(peer);
    client.send(Buffer.from('last words'));
    client.terminate();
    expect(String((await atServer).data)).toBe('last words');
  });

  it('answers a ping with a pong carrying the same bytes', async () => {
    const { client, peer } = await connect(server);
    const pong = once(peer, 'pong');
    peer.ping(Buffer.from('are you there'));
    expect(String((await pong)[0])).toBe('are you there');
    client.close();
  });

  it('closes cleanly from either side, with the code and reason given', async () => {
    let { client, peer } = await connect(server);
    const atServer = closed(peer);
    const atClient = closed(client);
    client.close(4001, 'done here');
    expect(await atServer).toEqual({ code: 4001, reason: 'done here' });
    expect((await atClient).code).toBe(4001);
    expect(client.readyState).toBe(3);

    ({ client, peer } = await connect(server));
    const byServer = closed(client);
    peer.close(4002, 'bye');
    expect(await byServer).toEqual({ code: 4002, reason: 'bye' });
  });

  it('no longer keeps the process alive once it has sent its close frame, while it waits for the answer', async () => {
    const { client, peer } = await connect(server);
    // The process's wait is the socket handle's reference: Node's internals, read here for want of an API.
    const handle = () => (client as unknown as { socket: { _handle: { hasRef(): boolean } | null } }).socket._handle;
    expect(handle()?.hasRef()).toBe(true);
    (peer as unknown as { _socket: Socket })._socket.pause(); // a peer that froze: no close frame comes back

    client.close(1000, 'done');

    expect(client.readyState).toBe(2); // closing: waiting for the peer's close frame
    expect(handle()?.hasRef()).toBe(false);
  });

  it('refuses to send once closed, through the callback', async () => {
    const client = new LeanWebSocket(server.url, OPTIONS);
    await opened(client);
    const gone = closed(client);
    client.terminate();
    await gone;
    const err = await new Promise<Error | null | undefined>((resolve) => client.send(Buffer.from('late'), {}, resolve));
    expect(err?.message).toMatch(/not open/);
  });

  it('closes with 1009 when the server sends a message over its limit', async () => {
    const { client, peer } = await connect(server, { ...OPTIONS, maxPayload: 1000 });
    const error = once(client, 'error');
    const atServer = closed(peer);
    peer.send(Buffer.alloc(1001));
    expect((await error)[0]).toMatchObject({ closeCode: 1009 });
    expect((await atServer).code).toBe(1009);
  });

  it('fails the handshake of a server that does not upgrade, and of one that never answers', async () => {
    const http = createHttpServer((_req, res) => res.writeHead(404).end());
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const refused = new LeanWebSocket(`ws://127.0.0.1:${(http.address() as AddressInfo).port}/ws`, OPTIONS);
    const refusedClose = closed(refused);
    expect(String((await once(refused, 'error'))[0])).toMatch(/unexpected server response: HTTP 404/);
    await refusedClose;
    await new Promise((resolve) => http.close(resolve));

    const silent = createTcpServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const started = Date.now();
    const hung = new LeanWebSocket(`ws://127.0.0.1:${(silent.address() as AddressInfo).port}/ws`, { ...OPTIONS, handshakeTimeout: 300 });
    expect(String((await once(hung, 'error'))[0])).toMatch(/timed out/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    await closed(hung);
    silent.close();
  });

  it('reports a connection refused as an error, then a close', async () => {
    const probe = createTcpServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as AddressInfo;
    await new Promise((resolve) => probe.close(resolve));
    const client = new LeanWebSocket(`ws://127.0.0.1:${port}/ws`, OPTIONS);
    const gone = closed(client);
    expect((await once(client, 'error'))[0]).toMatchObject({ code: 'ECONNREFUSED' });
    expect((await gone).code).toBe(1006);
  });
});

describe('LeanWebSocket over TLS', () => {
  let made: SelfSignedCert;
  let server: TestServer;
  let ca: Buffer;

  beforeAll(async () => {
    made = await makeSelfSignedCert();
    ({ ca } = made);
    server = await startServer(createHttpsServer({ cert: ca, key: await readFile(made.key) }), 'wss');
  });

  afterAll(async () => {
    await server?.close();
    await made?.remove();
  });

  it('carries a large message over wss:// to a client that trusts the certificate', async () => {
    const { client, peer } = await connect(server, { ...OPTIONS, ca });
    const payload = Buffer.alloc(3 * MiB + 5, 9);
    const atClient = nextMessage(client);
    peer.send(payload);
    expect((await atClient).data.equals(payload)).toBe(true);
    client.close();
  });

  it('refuses a server whose certificate it does not trust', async () => {
    const client = new LeanWebSocket(server.url, OPTIONS);
    expect(String((await once(client, 'error'))[0])).toMatch(/self-signed|certificate/i);
  });
});
