import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { type AddressInfo, type Socket, connect as connectTcp } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket } from 'ws';
import { AcceptedWebSocket, type AcceptedWebSocketOptions } from './accepted-websocket';
import { upgradeResponse } from './websocket-handshake';
import { CLOSE_CODE, WebSocketFrameError } from './websocket-frame-reader';
import { makeSelfSignedCert } from './testing/self-signed-cert';
import { settledBacklog } from './testing/settled-backlog';

const MiB = 1024 * 1024;
const OPTIONS: AcceptedWebSocketOptions = { maxPayload: 8 * MiB };

interface TestServer {
  url: string;
  port: number;
  /** The server's end of the next connection. */
  connection: () => Promise<AcceptedWebSocket>;
  close: () => Promise<void>;
}

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** An HTTP(S) server on 127.0.0.1 whose upgrades are answered as attachRpcServer does. */
async function startServer(options: AcceptedWebSocketOptions = OPTIONS, server: HttpServer = createHttpServer(), scheme = 'ws'): Promise<TestServer> {
  const accepted: AcceptedWebSocket[] = [];
  server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    const answer = upgradeResponse(request);
    if (!answer.accepted) return void socket.end(answer.response);
    socket.write(answer.response);
    const ws = new AcceptedWebSocket(socket as Socket, head, options);
    ws.on('error', () => undefined); // the tests look at 'close'
    accepted.push(ws);
    server.emit('accepted', ws);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const close = async () => {
    for (const ws of accepted) ws.terminate();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  };
  cleanups.push(close);
  return { url: `${scheme}://127.0.0.1:${port}/ws`, port, connection: () => once(server, 'accepted').then(([ws]) => ws as AcceptedWebSocket), close };
}

/** A `ws` client (which masks with random keys, as browsers do) and the server's end of it. */
async function connect(server: TestServer, clientOptions: ConstructorParameters<typeof WebSocket>[2] = {}): Promise<{ client: WebSocket; peer: AcceptedWebSocket }> {
  const accepted = server.connection();
  const client = new WebSocket(server.url, { perMessageDeflate: true, ...clientOptions }); // offered; the server must choose none
  cleanups.push(() => client.terminate());
  await once(client, 'open');
  return { client, peer: await accepted };
}

function nextMessage(socket: WebSocket | AcceptedWebSocket): Promise<{ data: Buffer; isBinary: boolean }> {
  return once(socket, 'message').then(([data, isBinary]) => ({ data: data as Buffer, isBinary: isBinary as boolean }));
}

function closed(socket: WebSocket | AcceptedWebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => socket.once('close', (code: number, reason: Buffer) => resolve({ code, reason: String(reason) })));
}

/** Bytes that differ from position to position, so a misplaced or unmasked byte shows. */
function pattern(length: number): Buffer {
  return Buffer.from(Uint8Array.from({ length }, (_, i) => (i * 131 + (i >> 8)) & 0xff));
}

describe('AcceptedWebSocket', () => {
  it('exchanges binary messages of every length form with a ws client, both ways, and chooses no extension', async () => {
    const server = await startServer();
    const { client, peer } = await connect(server);
    expect(client.extensions).toBe('');
    for (const length of [0, 1, 125, 126, 65_535, 65_536, 3 * MiB + 7]) {
      const bytes = pattern(length);
      const got = nextMessage(peer);
      client.send(bytes);
      const { data, isBinary } = await got;
      expect(isBinary).toBe(true);
      expect(data.equals(bytes)).toBe(true);

      const back = nextMessage(client);
      peer.send(bytes);
      expect((await back).data.equals(bytes)).toBe(true);
    }
  });

  it('sends one message from several parts, and reports text and fragmented messages as sent', async () => {
    const server = await startServer();
    const { client, peer } = await connect(server);
    const back = nextMessage(client);
    peer.sendParts([Buffer.from('head-'), pattern(70_000), Buffer.from('-tail')]);
    expect((await back).data.equals(Buffer.concat([Buffer.from('head-'), pattern(70_000), Buffer.from('-tail')]))).toBe(true);

    const text = nextMessage(peer);
    client.send('hello');
    expect(await text).toEqual({ data: Buffer.from('hello'), isBinary: false });

    const whole = nextMessage(peer);
    client.send(pattern(1000), { fin: false });
    client.ping(Buffer.from('between'));
    client.send(pattern(500), { fin: true });
    expect((await whole).data.equals(Buffer.concat([pattern(1000), pattern(500)]))).toBe(true);
  });

  it('reads each message into the buffer its allocator gives', async () => {
    const given: Buffer[] = [];
    const server = await startServer({
      ...OPTIONS,
      allocate: (length) => {
        const buffer = Buffer.alloc(length);
        given.push(buffer);
        return buffer;
      },
    });
    const { client, peer } = await connect(server);
    const got = nextMessage(peer);
    client.send(pattern(2 * MiB));
    const { data } = await got;
    expect(given).toHaveLength(1);
    expect(data.buffer).toBe(given[0].buffer);
    expect(data.equals(pattern(2 * MiB))).toBe(true);
  });

  it("shows its allocator a large message's first bytes, and gives back the buffer of one left unfinished", async () => {
    const heads: string[] = [];
    const released: Buffer[] = [];
    const allocated: Buffer[] = [];
    const server = await startServer({
      ...OPTIONS,
      peek: { bytes: 16 },
      allocate: (length, head) => {
        if (head) heads.push(head.toString('hex'));
        allocated.push(Buffer.alloc(length));
        return allocated[allocated.length - 1];
      },
      release: (buffer) => released.push(buffer),
    });
    const { client, peer } = await connect(server);
    const got = nextMessage(peer);
    client.send(pattern(MiB));
    expect((await got).data.equals(pattern(MiB))).toBe(true);
    expect(heads).toEqual([pattern(16).toString('hex')]);

    const raw = await rawUpgrade(server.port);
    const head = Buffer.from([0x82, 0xff, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0]); // binary, masked (zero key), 1 MiB
    const gone = new Promise((resolve) => raw.on('close', resolve));
    raw.write(Buffer.concat([head, pattern(100_000)]));
    await waitFor(() => allocated.length === 2);
    raw.destroy(); // mid-message
    await gone;
    await waitFor(() => released.length === 1);
    expect(released[0]).toBe(allocated[1]);
  });

  it('closes the connection with the code its allocator refuses a message with, and takes a longer head when asked', async () => {
    const heads: number[] = [];
    const server = await startServer({
      ...OPTIONS,
      peek: { bytes: 8, more: (head) => head[0] + 8 }, // the first byte says how much more it wants
      allocate: (length, head) => {
        heads.push(head?.length ?? 0);
        if (head?.[1] === 0xee) throw new WebSocketFrameError(CLOSE_CODE.policyViolation, 'not this one');
        return Buffer.alloc(length);
      },
    });
    const { client, peer } = await connect(server);
    const got = nextMessage(peer);
    const wanted = Buffer.concat([Buffer.from([200]), pattern(MiB - 1)]);
    client.send(wanted);
    expect((await got).data.equals(wanted)).toBe(true);
    expect(heads).toEqual([208]);

    const closed = once(client, 'close');
    client.send(Buffer.concat([Buffer.from([0, 0xee]), pattern(MiB)]));
    const [code, reason] = await closed;
    expect(code).toBe(CLOSE_CODE.policyViolation);
    expect(String(reason)).toBe('not this one');
  });

  it('refuses a fragmented message over its limit for them, whatever its full limit', async () => {
    const server = await startServer({ ...OPTIONS, maxFragmentedPayload: 1000 });
    const { client, peer } = await connect(server);
    const got = nextMessage(peer);
    client.send(pattern(900), { fin: false });
    client.send(pattern(100), { fin: true });
    expect((await got).data.length).toBe(1000); // at the limit: taken
    const closed = once(client, 'close');
    client.send(pattern(900), { fin: false });
    client.send(pattern(101), { fin: true });
    expect((await closed)[0]).toBe(CLOSE_CODE.tooBig);
  });

  it('answers a ping with a pong carrying the same bytes', async () => {
    const server = await startServer();
    const { client } = await connect(server);
    const pong = once(client, 'pong');
    client.ping(Buffer.from('are you there'));
    expect(String((await pong)[0])).toBe('are you there');
  });

  it('leaves pings unanswered while its peer is not reading what waits to be sent', async () => {
    const server = await startServer();
    const { client, peer } = await connect(server);
    client.pause(); // reads nothing from here on
    peer.send(Buffer.alloc(24 * MiB, 1)); // more than the kernel's buffers take: the rest waits here
    const settled = await settledBacklog(peer);
    expect(settled).toBeGreaterThan(MiB);

    const marker = nextMessage(peer);
    for (let i = 0; i < 2000; i++) client.ping(Buffer.alloc(125, i));
    client.send(Buffer.from('after the pings'));
    await marker; // read after every ping

    // Each ping answered would have queued a pong here: a peer that pings and never reads must not grow us.
    expect(peer.bufferedAmount).toBeLessThanOrEqual(settled);
    const big = nextMessage(client);
    client.resume();
    expect((await big).data.length).toBe(24 * MiB);
  });

  it('closes cleanly from either side, with the code and reason given', async () => {
    const server = await startServer();
    const first = await connect(server);
    const both = [closed(first.client), closed(first.peer)];
    first.client.close(4001, 'client done');
    expect(await Promise.all(both)).toEqual([
      { code: 4001, reason: '' },
      { code: 4001, reason: 'client done' },
    ]);

    const second = await connect(server);
    const again = [closed(second.client), closed(second.peer)];
    second.peer.close(1001, 'going away');
    expect((await Promise.all(again))[0]).toEqual({ code: 1001, reason: 'going away' });
    expect(second.peer.readyState).toBe(WebSocket.CLOSED);
  });

  it('closes (1006) when a client goes without a close frame, though an HTTP server allows half-open sockets', async () => {
    const server = await startServer();
    const accepted = server.connection();
    const raw = await rawUpgrade(server.port);
    const peer = await accepted;
    const gone = closed(peer);
    const rawClosed = once(raw, 'close');
    raw.end(); // FIN, nothing else
    expect((await gone).code).toBe(1006);
    await rawClosed; // our side ended too
  });

  it('stops reading while paused, and reads on once resumed', async () => {
    const server = await startServer();
    const { client, peer } = await connect(server);
    const got: string[] = [];
    peer.on('message', (data: Buffer) => got.push(String(data)));
    peer.pause();
    client.send('one');
    client.send('two');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(got).toEqual([]);
    peer.resume();
    await waitFor(() => got.length === 2);
    expect(got).toEqual(['one', 'two']);
  });

  it('reads a plain TCP connection into buffers of its choosing, not from data events', async () => {
    // Should a Node release take away the internals this relies on (accepted-socket-reads.ts), this
    // fails: the fallback still works, but a node would receive chunks the slower way unnoticed.
    const server = await startServer();
    const { peer } = await connect(server);
    expect(peer.readsIntoOwnBuffers).toBe(true);
  });

  it('reads frames that came in the same packet as the upgrade request, before those after it', async () => {
    const http = createHttpServer();
    const server = await startServer(OPTIONS, http);
    const got: string[] = [];
    // Listened to as the connection is made, as attachRpcServer's onConnection does.
    http.once('accepted', (peer: AcceptedWebSocket) => peer.on('message', (data: Buffer) => got.push(String(data))));
    const socket = connectTcp(server.port, '127.0.0.1');
    cleanups.push(() => socket.destroy());
    await once(socket, 'connect');
    const request = `GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`;
    socket.write(Buffer.concat([Buffer.from(request), maskedFrame(Buffer.from('first'))]));
    await waitFor(() => got.length === 1);
    socket.write(maskedFrame(Buffer.from('second')));
    await waitFor(() => got.length === 2);
    expect(got).toEqual(['first', 'second']);
  });

  it('survives an HTTP request pipelined before the upgrade whose answer comes after it', async () => {
    // The answer goes to the socket the connection was taken from: without care, a write to a closed
    // socket whose error nobody listens for, which ends the process.
    let answered!: () => void;
    const done = new Promise<void>((resolve) => (answered = resolve));
    const http = createHttpServer((_request, response) => {
      setTimeout(() => {
        response.end('late\n');
        setImmediate(answered);
      }, 50);
    });
    const server = await startServer(OPTIONS, http);
    const got: string[] = [];
    http.once('accepted', (peer: AcceptedWebSocket) => peer.on('message', (data: Buffer) => got.push(String(data))));
    const socket = connectTcp(server.port, '127.0.0.1');
    cleanups.push(() => socket.destroy());
    socket.on('error', () => undefined);
    await once(socket, 'connect');
    const upgrade = `GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`;
    socket.write(`GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n${upgrade}`);
    await done;
    socket.write(maskedFrame(Buffer.from('still here')));
    await waitFor(() => got.length === 1);
    expect(got).toEqual(['still here']);
  });

  it("leaves the HTTP server's count of connections right, so that closing the server waits for them", async () => {
    const http = createHttpServer();
    const server = await startServer(OPTIONS, http);
    const { client, peer } = await connect(server);
    const count = () => new Promise<number>((resolve, reject) => http.getConnections((err, n) => (err ? reject(err) : resolve(n))));
    expect(await count()).toBe(1);
    let serverClosed = false;
    const closing = new Promise<void>((resolve) => http.close(() => resolve())).then(() => (serverClosed = true));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(serverClosed).toBe(false); // still open: the connection is
    const gone = closed(peer);
    client.close();
    await gone;
    await closing;
    expect(await count()).toBe(0);
  });

  it('closes with 1009 on a message over its limit, and with 1002 on a frame a client did not mask', async () => {
    const server = await startServer({ maxPayload: 1024 });
    const { client } = await connect(server);
    const tooBig = closed(client);
    client.send(pattern(1025));
    expect((await tooBig).code).toBe(1009);

    const raw = await rawUpgrade(server.port);
    const answer = new Promise<Buffer>((resolve) => {
      const parts: Buffer[] = [];
      raw.on('data', (part: Buffer) => parts.push(part));
      raw.on('close', () => resolve(Buffer.concat(parts)));
    });
    raw.write(Buffer.from([0x82, 0x02, 0x68, 0x69])); // binary "hi", no mask
    const close = await answer;
    expect(close[0]).toBe(0x88); // a close frame, unmasked as a server's
    expect(close.readUInt16BE(2)).toBe(1002);
    expect(String(close.subarray(4))).toMatch(/must be masked/);
  });
});

describe('AcceptedWebSocket over TLS', () => {
  it('carries a large message both ways over wss://', async () => {
    const made = await makeSelfSignedCert();
    cleanups.push(() => made.remove());
    const server = await startServer(OPTIONS, createHttpsServer({ cert: made.ca, key: await readFile(made.key) }), 'wss');
    const { client, peer } = await connect(server, { ca: made.ca });
    expect(peer.readsIntoOwnBuffers).toBe(false); // TLS sockets are read from their data events
    const got = nextMessage(peer);
    client.send(pattern(5 * MiB));
    expect((await got).data.equals(pattern(5 * MiB))).toBe(true);
    const back = nextMessage(client);
    peer.send(pattern(MiB + 1));
    expect((await back).data.equals(pattern(MiB + 1))).toBe(true);
  });
});

/** One binary frame as a client sends it: masked (RFC 6455 §5.3), here with a key that changes bytes. */
function maskedFrame(payload: Buffer): Buffer {
  if (payload.length > 125) throw new RangeError('short frames only');
  const key = Buffer.from([0x12, 0x34, 0x56, 0x78]);
  const masked = Buffer.from(payload.map((byte, i) => byte ^ key[i & 3]));
  return Buffer.concat([Buffer.from([0x82, 0x80 | payload.length]), key, masked]);
}

/** A raw TCP connection upgraded by hand, its 101 read: what is written next is frames. */
async function rawUpgrade(port: number): Promise<Socket> {
  const socket = connectTcp(port, '127.0.0.1');
  cleanups.push(() => socket.destroy());
  await once(socket, 'connect');
  socket.write(`GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  let head = '';
  while (!head.includes('\r\n\r\n')) head += String((await once(socket, 'data'))[0]);
  expect(head).toMatch(/^HTTP\/1\.1 101 /);
  return socket;
}

async function waitFor(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
