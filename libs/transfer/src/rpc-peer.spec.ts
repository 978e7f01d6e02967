import { createServer } from 'node:http';
import { connect as connectTcp, createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import {
  CairnError,
  FileInfo,
  Frame,
  MAX_FRAME_SIZE,
  MAX_REQUESTS_ANSWERED_AT_ONCE,
  MAX_REQUESTS_IN_FLIGHT,
  MESSAGES,
  PROTOCOL_VERSION,
  decodeFrame,
  encodeControl,
} from '@cairn/protocol';
import { RpcPeer, RequestHandler, WS_CLOSE_GRACE_MS, expectFrame } from './rpc-peer';
import { RpcServer, RpcServerOptions, attachRpcServer } from './rpc-server';
import { ConnectOptions, connectPeer } from './connect';
import { sha256 } from './hashing';
import { expectedAccept } from './websocket-handshake';
import { InboundBudget } from './inbound-budget';
import { ReceiveBuffers } from './receive-buffers';
import { SlowLink, startSlowLink } from './testing/slow-link';

// Real sockets on 127.0.0.1 with port 0; everything a test opens is closed in afterEach.
const cleanups: Array<() => unknown> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface TestServer {
  rpc: RpcServer;
  http: ReturnType<typeof createServer>;
  port: number;
  address: string;
  protocolErrors: string[];
}

async function startServer(options: RpcServerOptions = {}): Promise<TestServer> {
  const protocolErrors: string[] = [];
  const http = createServer((_request, response) => {
    response.writeHead(404);
    response.end();
  });
  const rpc = attachRpcServer(http, {
    ...options,
    onProtocolError: (err) => {
      protocolErrors.push(err.code);
      options.onProtocolError?.(err);
    },
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const port = (http.address() as AddressInfo).port;
  cleanups.push(async () => {
    await rpc.close();
    http.closeAllConnections();
    await new Promise<void>((resolve) => http.close(() => resolve()));
  });
  return { rpc, http, port, address: `127.0.0.1:${port}`, protocolErrors };
}

async function connect(address: string, options?: ConnectOptions): Promise<RpcPeer> {
  const peer = await connectPeer(address, options);
  cleanups.push(() => peer.socket.terminate());
  return peer;
}

/** The code of the CairnError a promise rejects with ('resolved' if it does not). */
function codeOf(promise: Promise<unknown>): Promise<string> {
  return promise.then(
    () => 'resolved',
    (err: unknown) => (err instanceof CairnError ? err.code : `not a CairnError: ${String(err)}`),
  );
}

/** A promise the test settles by hand (a handler that answers only when told to). */
function gate(): { opened: Promise<void>; open: () => void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  cleanups.push(() => open());
  return { opened, open };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Any grant string: these tests carry grants, they do not check signatures (the node does). */
const GRANT = 'grant-payload.grant-signature';

function fileInfo(name: string, id = 1): FileInfo {
  return { id, name, size: 0, sha256: sha256(new Uint8Array(0)), replicas: 1, chunkCount: 0, createdAt: 0, updatedAt: 0 };
}

/** Answers file.stat by echoing the name (E_NOT_FOUND for "missing"), nodes.list with no nodes. */
const echoHandler: RequestHandler = (frame) => {
  switch (frame.type) {
    case 'file.stat':
      if (frame.body.name === 'missing') throw new CairnError('E_NOT_FOUND', 'no such file');
      return { type: 'file.info', body: { file: fileInfo(frame.body.name) } };
    case 'nodes.list':
      return { type: 'nodes.info', body: { nodes: [] } };
    default:
      throw new CairnError('E_UNKNOWN_TYPE', `${frame.type} is not served here`);
  }
};

async function stat(peer: RpcPeer, name: string, options = {}): Promise<string> {
  return expectFrame(await peer.request('file.stat', { name }, options), 'file.info').body.file.name;
}

// ---------------------------------------------------------------------------------------------------
// A raw `ws` client, for sending what a well-behaved peer never would.
// ---------------------------------------------------------------------------------------------------

interface RawClient {
  ws: WebSocket;
  /** The next frame the server sent, decoded. */
  nextFrame(): Promise<Frame>;
  /** The close code the connection ended with. */
  closed: Promise<number>;
}

async function rawClient(port: number): Promise<RawClient> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, { perMessageDeflate: false });
  cleanups.push(() => ws.terminate());
  const inbox: Buffer[] = [];
  const wakers: Array<() => void> = [];
  let isClosed = false;
  const wake = () => wakers.splice(0).forEach((w) => w());
  ws.on('error', () => undefined); // a refused or reset connection shows up as the close code
  ws.on('message', (data) => {
    inbox.push(data as Buffer);
    wake();
  });
  const closed = new Promise<number>((resolve) =>
    ws.on('close', (code) => {
      isClosed = true;
      resolve(code);
      wake();
    }),
  );
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const nextFrame = async (): Promise<Frame> => {
    while (inbox.length === 0) {
      if (isClosed) throw new Error('the connection closed without another frame');
      await new Promise<void>((resolve) => wakers.push(resolve));
    }
    return decodeFrame(inbox.shift() as Buffer);
  };
  return { ws, nextFrame, closed };
}

function header(fields: { version?: number; type: number; requestId: number }, body = Buffer.from('{}')): Buffer {
  const frame = Buffer.alloc(8 + body.length);
  frame.writeUInt8(fields.version ?? PROTOCOL_VERSION, 0);
  frame.writeUInt8(fields.type, 1);
  frame.writeUInt16BE(0, 2);
  frame.writeUInt32BE(fields.requestId, 4);
  body.copy(frame, 8);
  return frame;
}

function expectError(frame: Frame, requestId: number, code: string): void {
  expect(frame.type).toBe('error');
  expect(frame.requestId).toBe(requestId);
  expect(expectFrame(frame, 'error').body.code).toBe(code);
}

/** A second, well-behaved client still gets answers. */
async function expectStillServing(server: TestServer): Promise<void> {
  const peer = await connect(server.address);
  expect(await stat(peer, 'still/here.txt')).toBe('still/here.txt');
}

// ---------------------------------------------------------------------------------------------------

describe('RpcPeer over attachRpcServer and connectPeer', () => {
  it('answers a request with the response of its type', async () => {
    const server = await startServer({ onRequest: echoHandler });
    const client = await connect(server.address);

    const frame = await client.request('file.stat', { name: 'photos/a.jpg' });

    expect(frame.type).toBe('file.info');
    expect(expectFrame(frame, 'file.info').body.file).toEqual(fileInfo('photos/a.jpg'));
    expect(client.isOpen).toBe(true);
  });

  it('multiplexes many concurrent requests, each getting its own answer when the server answers out of order', async () => {
    const count = 40;
    // A random permutation of delays, so the answers come back in an order unrelated to the requests.
    const delays = Array.from({ length: count }, (_, i) => i).sort(() => Math.random() - 0.5);
    const answered: string[] = [];
    const server = await startServer({
      onRequest: async (frame) => {
        if (frame.type !== 'file.stat') throw new CairnError('E_UNKNOWN_TYPE', frame.type);
        const name = frame.body.name;
        await sleep(delays[Number(name.split('-')[1])]);
        answered.push(name);
        return { type: 'file.info', body: { file: fileInfo(name) } };
      },
    });
    const client = await connect(server.address);
    const names = Array.from({ length: count }, (_, i) => `f-${i}`);

    const results = await Promise.all(names.map((name) => stat(client, name)));

    expect(results).toEqual(names);
    expect(answered).toHaveLength(count);
    expect(answered).not.toEqual(names);
  });

  it('turns a CairnError thrown by the handler into a rejection with its code, and the connection stays usable', async () => {
    const server = await startServer({ onRequest: echoHandler });
    const client = await connect(server.address);

    expect(await codeOf(client.request('file.stat', { name: 'missing' }))).toBe('E_NOT_FOUND');

    expect(client.isOpen).toBe(true);
    expect(await stat(client, 'present.txt')).toBe('present.txt');
  });

  it('answers E_INTERNAL for a handler that throws something other than a CairnError', async () => {
    const server = await startServer({
      onRequest: () => {
        throw new TypeError('a bug in the handler');
      },
    });
    const client = await connect(server.address);

    expect(await codeOf(client.request('nodes.list', {}))).toBe('E_INTERNAL');
    expect(await codeOf(client.request('nodes.list', {}))).toBe('E_INTERNAL');
  });

  it('answers E_BAD_MESSAGE when the handler returns a body its own schema refuses', async () => {
    const server = await startServer({
      onRequest: () => ({ type: 'file.info', body: { file: { ...fileInfo('x'), sha256: 'not a hash' } } }),
    });
    const client = await connect(server.address);

    expect(await codeOf(client.request('file.stat', { name: 'x' }))).toBe('E_BAD_MESSAGE');
  });

  it('fails a request whose body its schema refuses at once with E_BAD_MESSAGE, sends nothing, and keeps working', async () => {
    const seen: string[] = [];
    const server = await startServer({
      onRequest: (frame, peer) => {
        seen.push(frame.type === 'file.stat' ? frame.body.name : frame.type);
        return echoHandler(frame, peer);
      },
    });
    const client = await connect(server.address);

    // A NUL is never part of a name: the encoder refuses the body before anything is sent. Without a
    // settled rejection this would wait for its minute-long timeout, or end the process unhandled.
    expect(await codeOf(client.request('file.stat', { name: 'a\u0000b' }, { timeoutMs: 60_000 }))).toBe('E_BAD_MESSAGE');

    expect(client.isOpen).toBe(true);
    expect(await stat(client, 'present.txt')).toBe('present.txt');
    expect(seen).toEqual(['present.txt']);
  });

  it('answers E_UNKNOWN_TYPE where no request handler is installed', async () => {
    const server = await startServer();
    const client = await connect(server.address);

    expect(await codeOf(client.request('nodes.list', {}))).toBe('E_UNKNOWN_TYPE');
  });

  it('carries requests both ways on one connection', async () => {
    const serverSide: RpcPeer[] = [];
    const server = await startServer({ onRequest: echoHandler, onConnection: (peer) => serverSide.push(peer) });
    const client = await connect(server.address, {
      onRequest: (frame) => {
        if (frame.type !== 'nodes.list') throw new CairnError('E_UNKNOWN_TYPE', frame.type);
        return { type: 'nodes.info', body: { nodes: [] } };
      },
    });
    expect(await stat(client, 'a')).toBe('a'); // by now the server has the connection
    expect(serverSide).toHaveLength(1);

    const [fromServer, fromClient] = await Promise.all([serverSide[0].request('nodes.list', {}), stat(client, 'b')]);

    expect(expectFrame(fromServer, 'nodes.info').body.nodes).toEqual([]);
    expect(fromClient).toBe('b');
    expect(await codeOf(serverSide[0].request('cluster.status', {}))).toBe('E_UNKNOWN_TYPE');
  });

  it('fails a request with no answer in time with E_TIMEOUT, ignores the late answer, and keeps working', async () => {
    const slow = gate();
    const server = await startServer({
      onRequest: async (frame, peer) => {
        if (frame.type === 'file.stat' && frame.body.name === 'slow') await slow.opened;
        return echoHandler(frame, peer);
      },
    });
    const client = await connect(server.address);

    expect(await codeOf(client.request('file.stat', { name: 'slow' }, { timeoutMs: 30 }))).toBe('E_TIMEOUT');

    slow.open(); // the late answer arrives after the caller gave up
    expect(await stat(client, 'after')).toBe('after');
    expect(client.isOpen).toBe(true);
  });

  it('uses the peer-wide requestTimeoutMs when a request names none', async () => {
    const never = gate();
    const server = await startServer({
      onRequest: async () => {
        await never.opened;
        return { type: 'nodes.info', body: { nodes: [] } };
      },
    });
    const client = await connect(server.address, { requestTimeoutMs: 30 });

    expect(await codeOf(client.request('nodes.list', {}))).toBe('E_TIMEOUT');
  });

  describe('over a slow link', () => {
    const MiB = 1024 * 1024;
    /** A server that stores nothing and acknowledges every chunk, reached through a link of `bytesPerSecond`. */
    async function slowServer(bytesPerSecond: number): Promise<{ address: string; link: SlowLink }> {
      const server = await startServer({
        onRequest: (frame) => {
          if (frame.type !== 'chunk.put') throw new CairnError('E_UNKNOWN_TYPE', frame.type);
          return { type: 'chunk.stored', body: { hash: frame.hash, size: frame.payload.length, stored: true, receipt: 'e'.repeat(64) } };
        },
      });
      const link = await startSlowLink(server.port, bytesPerSecond);
      cleanups.push(() => link.close());
      return { address: `127.0.0.1:${link.port}`, link };
    }

    for (const lean of [true, false]) {
      it(`lets requests queued behind others wait for as long as the link keeps moving (${lean ? 'LeanWebSocket' : 'ws'})`, async () => {
        // 12 MiB at 4 MiB/s: the last answer comes seconds after the request was made, many times the
        // timeout, but the link never goes a timeout without moving bytes or bringing an answer.
        const timeoutMs = 750;
        const { address } = await slowServer(4 * MiB);
        const client = await connect(address, { lean, requestTimeoutMs: timeoutMs });
        const chunks = Array.from({ length: 12 }, () => randomBytes(MiB));
        const startedAt = Date.now();

        const answers = await Promise.all(chunks.map((chunk) => client.putChunk(sha256(chunk), chunk, GRANT)));

        expect(answers.map((answer) => expectFrame(answer, 'chunk.stored').body.hash)).toEqual(chunks.map((chunk) => sha256(chunk)));
        expect(Date.now() - startedAt).toBeGreaterThan(2 * timeoutMs); // the case this is about: far beyond one timeout
      });
    }

    it('fails the requests waiting on a link that stopped moving, sent or not, with E_TIMEOUT', async () => {
      const { address, link } = await slowServer(4 * MiB);
      const client = await connect(address, { lean: true, requestTimeoutMs: 500 });
      const chunks = Array.from({ length: 12 }, () => randomBytes(MiB));
      const outcomes = chunks.map((chunk) => codeOf(client.putChunk(sha256(chunk), chunk, GRANT)));

      await Promise.race(outcomes); // one answer, then the link goes dead
      link.freeze();

      const codes = await Promise.all(outcomes);
      expect(codes.filter((code) => code !== 'resolved').length).toBeGreaterThan(0);
      expect(codes.filter((code) => code !== 'resolved' && code !== 'E_TIMEOUT')).toEqual([]);
    });

    it('closes a connection whose queued bytes are not going out at once when told to discard them, without waiting for them to go', async () => {
      const { address, link } = await slowServer(4 * MiB);
      const client = await connect(address, { lean: true });
      const chunks = Array.from({ length: 32 }, () => randomBytes(MiB)); // more than the kernel's buffers take
      const outcomes = chunks.map((chunk) => codeOf(client.putChunk(sha256(chunk), chunk, GRANT)));
      await Promise.race(outcomes);
      link.freeze();

      client.close(1000, '', { discardQueued: true });

      // Cut, not closed politely: the close frame would wait behind megabytes the link no longer takes.
      await waitFor(() => client.socket.readyState === WebSocket.CLOSED, 'the socket closed', 1_000);
      expect(await Promise.all(outcomes)).toContain('E_UNAVAILABLE');
    });
  });

  it('fails a request its peer never answers while it answers every request sent after it (heartbeats, say)', async () => {
    const never = gate();
    const server = await startServer({
      onRequest: async (frame, peer) => {
        if (frame.type === 'file.stat' && frame.body.name === 'never') await never.opened;
        return echoHandler(frame, peer);
      },
    });
    const client = await connect(server.address, { requestTimeoutMs: 500 });
    let firstDone = false;
    const first = codeOf(client.request('file.stat', { name: 'never' })).finally(() => (firstDone = true));

    // An answered request every 100 ms for up to 3 s: none of them stood ahead of the first, and only
    // the first few count for it (a peer may answer out of order).
    let answered = 0;
    while (answered < 30 && !firstDone) {
      expect(await stat(client, `later-${answered}`)).toBe(`later-${answered}`);
      answered++;
      await sleep(100);
    }

    expect(await first).toBe('E_TIMEOUT');
    expect(answered).toBeLessThan(30);
  });

  it('lets a request wait while the peer answers those sent after it first, a few of them', async () => {
    // Answers in the reverse order of the requests, 300 ms apart: the first request's comes last,
    // far past the 500 ms timeout, but never 500 ms after another answer.
    const server = await startServer({
      onRequest: async (frame, peer) => {
        if (frame.type === 'file.stat') await sleep(300 * (5 - Number(frame.body.name.split('-')[1])));
        return echoHandler(frame, peer);
      },
    });
    const client = await connect(server.address, { requestTimeoutMs: 500 });

    const names = await Promise.all([0, 1, 2, 3, 4].map((i) => stat(client, `reversed-${i}`)));

    expect(names).toEqual(['reversed-0', 'reversed-1', 'reversed-2', 'reversed-3', 'reversed-4']);
  });

  it('lets a request wait while the requests sent before it are answered, one after the other', async () => {
    // Each answer comes 300 ms after the one before: far past the 500 ms timeout for the last, but
    // never 500 ms without an answer to a request ahead of it.
    const server = await startServer({
      onRequest: async (frame, peer) => {
        if (frame.type === 'file.stat') await sleep(300 * (1 + Number(frame.body.name.split('-')[1])));
        return echoHandler(frame, peer);
      },
    });
    const client = await connect(server.address, { requestTimeoutMs: 500 });

    const names = await Promise.all([0, 1, 2, 3, 4].map((i) => stat(client, `queued-${i}`)));

    expect(names).toEqual(['queued-0', 'queued-1', 'queued-2', 'queued-3', 'queued-4']);
  });

  it('fails a request the peer took but never answers, however many more requests it takes meanwhile', async () => {
    const never = gate();
    const server = await startServer({
      onRequest: async () => {
        await never.opened;
        return { type: 'nodes.info', body: { nodes: [] } };
      },
    });
    const client = await connect(server.address, { requestTimeoutMs: 500 });
    let firstDone = false;
    const first = codeOf(client.request('nodes.list', {})).finally(() => (firstDone = true));
    const more: Array<Promise<string>> = [];

    // Another request every 100 ms for up to 1.5 s: each goes out at once, which proves the peer
    // reads, not that it works. The first must not wait for them to stop.
    let sent = 0;
    while (sent < 15 && !firstDone) {
      more.push(codeOf(client.request('nodes.list', {})));
      sent++;
      await sleep(100);
    }

    expect(await first).toBe('E_TIMEOUT');
    expect(sent).toBeLessThan(15);
    never.open();
    await Promise.all(more);
  });

  it('fails a request with E_ABORTED when its signal aborts, before or while it waits', async () => {
    const never = gate();
    const server = await startServer({
      onRequest: async () => {
        await never.opened;
        return { type: 'nodes.info', body: { nodes: [] } };
      },
    });
    const client = await connect(server.address);

    const controller = new AbortController();
    const pending = client.request('nodes.list', {}, { signal: controller.signal });
    setTimeout(() => controller.abort(), 10);
    expect(await codeOf(pending)).toBe('E_ABORTED');

    expect(await codeOf(client.request('nodes.list', {}, { signal: AbortSignal.abort() }))).toBe('E_ABORTED');
    expect(await codeOf(client.putChunk(sha256(Buffer.from('x')), Buffer.from('x'), GRANT, { signal: AbortSignal.abort() }))).toBe(
      'E_ABORTED',
    );
    expect(client.isOpen).toBe(true);
  });

  it('fails every pending request with E_UNAVAILABLE when the server closes, and refuses new ones', async () => {
    const never = gate();
    let received = 0;
    const server = await startServer({
      onRequest: async () => {
        received++;
        await never.opened;
        return { type: 'nodes.info', body: { nodes: [] } };
      },
    });
    const client = await connect(server.address);
    const pending = [1, 2, 3].map(() => codeOf(client.request('nodes.list', {})));
    while (received < 3) await sleep(2);

    await server.rpc.close();

    expect(await Promise.all(pending)).toEqual(['E_UNAVAILABLE', 'E_UNAVAILABLE', 'E_UNAVAILABLE']);
    expect((await client.closed).code).toBe('E_UNAVAILABLE');
    expect(client.isOpen).toBe(false);
    expect(await codeOf(client.request('nodes.list', {}))).toBe('E_UNAVAILABLE');
  });

  it('fails pending requests with E_UNAVAILABLE when the caller closes its own peer', async () => {
    const never = gate();
    const server = await startServer({
      onRequest: async () => {
        await never.opened;
        return { type: 'nodes.info', body: { nodes: [] } };
      },
    });
    const client = await connect(server.address);
    const pending = codeOf(client.request('nodes.list', {}));

    client.close();

    expect(await pending).toBe('E_UNAVAILABLE');
    expect(await codeOf(client.request('nodes.list', {}))).toBe('E_UNAVAILABLE');
  });

  it('delivers putChunk data frames with the hash, the grant and the exact bytes', async () => {
    const received = new Map<string, { grant: string; bytes: Buffer }>();
    const server = await startServer({
      onRequest: (frame) => {
        if (frame.type !== 'chunk.put') throw new CairnError('E_UNKNOWN_TYPE', frame.type);
        received.set(frame.hash, { grant: frame.grant, bytes: Buffer.from(frame.payload) });
        return { type: 'chunk.stored', body: { hash: frame.hash, size: frame.payload.length, stored: true } };
      },
    });
    const client = await connect(server.address);
    const chunks = [0, 1, 1000, 1024 * 1024 + 3].map((size) => randomBytes(size));
    const grantOf = (i: number) => `${GRANT}-${i}-${'é'.repeat(i * 100)}`;

    const answers = await Promise.all(chunks.map((chunk, i) => client.putChunk(sha256(chunk), chunk, grantOf(i))));

    chunks.forEach((chunk, i) => {
      const hash = sha256(chunk);
      expect(expectFrame(answers[i], 'chunk.stored').body).toEqual({ hash, size: chunk.length, stored: true });
      const got = received.get(hash);
      expect(got?.grant).toBe(grantOf(i));
      expect(got && got.bytes.equals(chunk)).toBe(true);
      expect(sha256(got?.bytes as Buffer)).toBe(hash);
    });
  });

  it('reads requests into its receive memory and gives each back once answered, not before', async () => {
    const receiveBuffers = new ReceiveBuffers();
    const given: ArrayBufferLike[] = [];
    const give = receiveBuffers.give.bind(receiveBuffers);
    receiveBuffers.give = (bytes) => (given.push(bytes.buffer), give(bytes));
    const held = gate();
    const seen: Array<{ buffer: ArrayBufferLike; bytes: string }> = [];
    const server = await startServer({
      receiveInto: receiveBuffers,
      onRequest: async (frame) => {
        if (frame.type !== 'chunk.put') throw new CairnError('E_UNKNOWN_TYPE', frame.type);
        seen.push({ buffer: frame.payload.buffer, bytes: sha256(frame.payload) });
        if (seen.length === 1) await held.opened; // the first is still being worked on when the second arrives
        return { type: 'chunk.stored', body: { hash: frame.hash, size: frame.payload.length, stored: true } };
      },
    });
    const client = await connect(server.address);
    const chunks = Array.from({ length: 3 }, () => randomBytes(2 * 1024 * 1024));

    const first = client.putChunk(sha256(chunks[0]), chunks[0], GRANT);
    await waitFor(() => seen.length === 1, 'the first chunk to reach the handler');
    await client.putChunk(sha256(chunks[1]), chunks[1], GRANT);
    expect(seen[1].buffer).not.toBe(seen[0].buffer); // the first one's is still lent
    held.open();
    await first;
    await waitFor(() => given.length === 2, 'both messages to be given back');
    await client.putChunk(sha256(chunks[2]), chunks[2], GRANT);

    expect(seen.map((s) => s.bytes)).toEqual(chunks.map((c) => sha256(c))); // each handler saw its own bytes
    // Compared by identity (jest's deep equality cannot walk an ArrayBuffer of this realm).
    expect(given[0] === seen[1].buffer && given[1] === seen[0].buffer).toBe(true); // in the order they were answered
    expect(seen[2].buffer === seen[0].buffer || seen[2].buffer === seen[1].buffer).toBe(true); // the third reused one
  });

  it('stops reading from every connection while the requests held pass the inbound budget, and catches up after', async () => {
    const budget = new InboundBudget(1024 * 1024);
    let open = false;
    const waiting: Array<() => void> = [];
    let seen = 0;
    const server = await startServer({
      inboundBudget: budget,
      onRequest: async (frame) => {
        if (frame.type !== 'chunk.put') throw new CairnError('E_UNKNOWN_TYPE', frame.type);
        seen++;
        if (!open) await new Promise<void>((resolve) => waiting.push(resolve));
        return { type: 'chunk.stored', body: { hash: frame.hash, size: frame.payload.length, stored: true } };
      },
    });
    const clients = [await connect(server.address), await connect(server.address)];
    const chunks = Array.from({ length: 16 }, () => randomBytes(256 * 1024));
    const answers = clients.flatMap((client) => chunks.map((chunk) => client.putChunk(sha256(chunk), chunk, GRANT)));

    await waitFor(() => budget.isOver, 'the budget to be exceeded');
    await new Promise((r) => setTimeout(r, 300)); // what was already read arrives; nothing more should
    expect(seen).toBeLessThanOrEqual(8); // of 32 sent: 1 MiB is 4 of them, plus what a socket had read already
    expect(budget.heldBytes).toBeGreaterThan(budget.maxBytes);

    open = true;
    for (const resolve of waiting.splice(0)) resolve();
    const stored = await Promise.all(answers);
    expect(stored.every((frame) => frame.type === 'chunk.stored')).toBe(true);
    expect(seen).toBe(32);
    expect(budget.heldBytes).toBe(0);
    expect(budget.isOver).toBe(false);
  });

  it("tells a chunk.data reply's release once its payload is on the socket, and not before", async () => {
    const stored = randomBytes(300_000);
    const sent: number[] = [];
    let answered = 0;
    const server = await startServer({
      onRequest: () => {
        answered++;
        return { type: 'chunk.data', hash: sha256(stored), payload: stored, release: () => sent.push(answered) };
      },
    });
    const client = await connect(server.address);

    const data = expectFrame(await client.request('chunk.get', { hash: sha256(stored), grant: GRANT }), 'chunk.data');

    expect(Buffer.from(data.payload).equals(stored)).toBe(true);
    expect(sent).toEqual([1]);
  });

  it("tells a chunk.data reply's release, once, when its connection closed before the answer went out", async () => {
    const stored = randomBytes(1000);
    const asked = gate();
    const reading = gate(); // the handler is still reading the chunk when the client goes
    const released = gate();
    let releases = 0;
    const server = await startServer({
      onRequest: async () => {
        asked.open();
        await reading.opened;
        return { type: 'chunk.data', hash: sha256(stored), payload: stored, release: () => (releases++, released.open()) };
      },
    });
    const client = await connect(server.address);
    const answer = codeOf(client.request('chunk.get', { hash: sha256(stored), grant: GRANT }));
    await asked.opened;

    client.socket.terminate();
    expect(await answer).toBe('E_UNAVAILABLE');
    await new Promise((resolve) => setTimeout(resolve, 50)); // the server sees the close
    reading.open();

    await released.opened;
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(releases).toBe(1);
  });

  it('answers chunk.data with an empty grant', async () => {
    const stored = randomBytes(100);
    const server = await startServer({ onRequest: () => ({ type: 'chunk.data', hash: sha256(stored), payload: stored }) });
    const client = await connect(server.address);

    const data = expectFrame(await client.request('chunk.get', { hash: sha256(stored), grant: GRANT }), 'chunk.data');

    expect(data.grant).toBe('');
  });

  it('answers a request with a chunk.data frame carrying hash and bytes', async () => {
    const stored = randomBytes(70_000);
    const server = await startServer({
      onRequest: (frame) => {
        if (frame.type !== 'chunk.get') throw new CairnError('E_UNKNOWN_TYPE', frame.type);
        if (frame.body.grant !== GRANT) throw new CairnError('E_FORBIDDEN', 'no grant');
        if (frame.body.hash !== sha256(stored)) throw new CairnError('E_NOT_FOUND', 'no such chunk');
        return { type: 'chunk.data', hash: sha256(stored), payload: stored };
      },
    });
    const client = await connect(server.address);

    const data = expectFrame(await client.request('chunk.get', { hash: sha256(stored), grant: GRANT }), 'chunk.data');

    expect(data.hash).toBe(sha256(stored));
    expect(Buffer.from(data.payload).equals(stored)).toBe(true);
    expect(await codeOf(client.request('chunk.get', { hash: sha256(Buffer.from('other')), grant: GRANT }))).toBe('E_NOT_FOUND');
    expect(await codeOf(client.request('chunk.get', { hash: sha256(stored), grant: 'another' }))).toBe('E_FORBIDDEN');
  });

  it('waits for the send buffer to drain below maxBufferedBytes before sending more', async () => {
    const limit = 64 * 1024;
    const server = await startServer({
      onRequest: (frame) => {
        if (frame.type !== 'chunk.put') throw new CairnError('E_UNKNOWN_TYPE', frame.type);
        return { type: 'chunk.stored', body: { hash: frame.hash, size: frame.payload.length, stored: true } };
      },
    });
    const client = await connect(server.address, { maxBufferedBytes: limit });
    const bufferedAtSend: number[] = [];
    // Data frames go out through ws's frame writer (joined-send.ts), not socket.send.
    const sender = (client.socket as unknown as { _sender: { sendFrame: (...args: unknown[]) => void } })._sender;
    const sendFrame = sender.sendFrame.bind(sender);
    jest.spyOn(sender, 'sendFrame').mockImplementation((...args: unknown[]) => {
      bufferedAtSend.push(client.socket.bufferedAmount);
      return sendFrame(...args);
    });

    const chunks = Array.from({ length: 6 }, () => randomBytes(1024 * 1024));
    const answers: Array<Promise<Frame>> = [];
    for (const chunk of chunks) {
      answers.push(client.putChunk(sha256(chunk), chunk, GRANT));
      await new Promise((resolve) => setImmediate(resolve)); // let this send reach the socket before the next
    }
    await Promise.all(answers);
    await client.drained();

    expect(bufferedAtSend).toHaveLength(chunks.length);
    bufferedAtSend.forEach((buffered) => expect(buffered).toBeLessThanOrEqual(limit));
    expect(client.socket.bufferedAmount).toBeLessThanOrEqual(limit);
  });

  it('expectFrame refuses a frame of another type with E_BAD_MESSAGE', async () => {
    const server = await startServer({ onRequest: echoHandler });
    const client = await connect(server.address);
    const frame = await client.request('nodes.list', {});

    expect(expectFrame(frame, 'nodes.info').type).toBe('nodes.info');
    expect(() => expectFrame(frame, 'file.info')).toThrow(CairnError);
    expect(await codeOf(Promise.resolve().then(() => expectFrame(frame, 'file.info')))).toBe('E_BAD_MESSAGE');
  });
});

describe('connectPeer', () => {
  it('fails with E_UNAVAILABLE where nothing listens', async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const freePort = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));

    expect(await codeOf(connectPeer(`127.0.0.1:${freePort}`, { connectTimeoutMs: 2000 }))).toBe('E_UNAVAILABLE');
  });

  it('fails with E_UNAVAILABLE when the upgrade is refused', async () => {
    const http = createServer((_request, response) => {
      response.writeHead(404);
      response.end();
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => {
      http.closeAllConnections();
      return new Promise<void>((resolve) => http.close(() => resolve()));
    });

    expect(await codeOf(connectPeer(`127.0.0.1:${(http.address() as AddressInfo).port}`))).toBe('E_UNAVAILABLE');
  });

  it.each([false, true])('fails with E_UNAVAILABLE when the connection closes during the upgrade (lean: %s)', async (lean) => {
    // A node killed just after accepting: a FIN, no answer, no error. Seen as a put that waited forever.
    const closing = createNetServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => closing.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => closing.close(() => resolve())));

    const outcome = connectPeer(`127.0.0.1:${(closing.address() as AddressInfo).port}`, { lean, connectTimeoutMs: 60_000 });
    expect(await codeOf(outcome)).toBe('E_UNAVAILABLE');
  });

  it('fails with E_USAGE for an address that is none', async () => {
    expect(await codeOf(Promise.resolve().then(() => connectPeer('ftp://nowhere')))).toBe('E_USAGE');
  });

  it('accepts the http:// and ws:// spellings of the same endpoint', async () => {
    const server = await startServer({ onRequest: echoHandler });

    const viaHttp = await connect(`http://127.0.0.1:${server.port}`);
    const viaWs = await connect(`ws://127.0.0.1:${server.port}/anything`);

    expect(await stat(viaHttp, 'h')).toBe('h');
    expect(await stat(viaWs, 'w')).toBe('w');
  });
});

describe("the other end's close frame", () => {
  /**
   * A server that upgrades, then, once told, sends a close frame (4001 "token revoked") and never
   * closes its side of the TCP connection: a busy controller that has not got round to it yet.
   */
  async function lingeringServer() {
    const sockets: Socket[] = [];
    const requests: Buffer[] = [];
    const server = createNetServer({ allowHalfOpen: true }, (socket) => {
      sockets.push(socket);
      let head = Buffer.alloc(0);
      socket.on('error', () => undefined);
      socket.on('data', (data) => {
        if (head.indexOf('\r\n\r\n') >= 0) return void requests.push(data);
        head = Buffer.concat([head, data]);
        const key = /sec-websocket-key: *(\S+)/i.exec(head.toString('latin1'))?.[1];
        if (head.indexOf('\r\n\r\n') < 0 || !key) return;
        socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${expectedAccept(key)}\r\n\r\n`);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => {
      sockets.forEach((socket) => socket.destroy());
      return new Promise<void>((resolve) => server.close(() => resolve()));
    });
    const reason = Buffer.from('token revoked');
    const closeFrame = Buffer.concat([Buffer.from([0x88, 2 + reason.length, 4001 >> 8, 4001 & 0xff]), reason]);
    return {
      address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
      requests,
      sendClose: () => sockets.forEach((socket) => socket.write(closeFrame)),
    };
  }

  it.each([false, true])('is no longer open once the close frame has come, before the TCP connection closes; Cairn\'s own socket also fails what waited at once (lean: %s)', async (lean) => {
    const server = await lingeringServer();
    const peer = await connect(server.address, { lean });
    let pending: string | undefined;
    void codeOf(peer.request('nodes.list', {})).then((code) => (pending = code));
    while (server.requests.length === 0) await sleep(2);

    server.sendClose();
    while (peer.isOpen) await sleep(2);

    // A new request is not sent on it: a caller that keeps a connection knows to open another.
    expect(await codeOf(peer.request('nodes.list', {}))).toBe('E_UNAVAILABLE');
    if (lean) {
      // Cairn's own socket says so as the close frame arrives: what waited has failed already, with
      // the reason the other end gave, rather than when the TCP connection closes or a timer runs out.
      expect(pending).toBe('E_UNAVAILABLE');
      expect((await peer.closed).message).toBe('connection closed (4001 token revoked)');
    }
  });

  it(`does not wait more than ${WS_CLOSE_GRACE_MS} ms for the other end's close frame when closing a ws socket (ws would wait 30 s, keeping a CLI alive)`, async () => {
    const server = await lingeringServer(); // never answers a close frame
    const peer = await connect(server.address, { lean: false });
    const socket = peer.socket as WebSocket;
    const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(performance.now())));
    const started = performance.now();

    peer.close();

    const tookMs = (await closed) - started;
    expect(tookMs).toBeGreaterThanOrEqual(WS_CLOSE_GRACE_MS - 50);
    expect(tookMs).toBeLessThan(WS_CLOSE_GRACE_MS + 2_000);
  });
});

describe('attachRpcServer against bad input (invariant 7)', () => {
  it('refuses an upgrade on any path but /ws with 404', async () => {
    const server = await startServer({ onRequest: echoHandler });

    for (const path of ['/', '/other', '/ws/extra', '/wsx']) {
      const status = await new Promise<number>((resolve, reject) => {
        const ws = new WebSocket(`ws://127.0.0.1:${server.port}${path}`);
        cleanups.push(() => ws.terminate());
        ws.on('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0));
        ws.on('open', () => reject(new Error(`upgrade on ${path} was accepted`)));
        ws.on('error', reject);
      });
      expect(status).toBe(404);
    }
    await expectStillServing(server);
  });

  it('accepts /ws with a query string', async () => {
    const server = await startServer({ onRequest: echoHandler });
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/ws?client=test`);
    cleanups.push(() => ws.terminate());

    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    expect(ws.readyState).toBe(WebSocket.OPEN);
  });

  it('closes on bytes too short to be a frame, after an error frame, and keeps serving others', async () => {
    const server = await startServer({ onRequest: echoHandler });
    const raw = await rawClient(server.port);

    raw.ws.send(Buffer.from([0xde, 0xad, 0xbe]));

    expectError(await raw.nextFrame(), 0, 'E_FRAME_MALFORMED');
    expect(await raw.closed).toBe(1002);
    expect(server.protocolErrors).toEqual(['E_FRAME_MALFORMED']);
    await expectStillServing(server);
  });

  it('closes on random garbage without a request id', async () => {
    const server = await startServer({ onRequest: echoHandler });
    const raw = await rawClient(server.port);
    const garbage = randomBytes(64);
    garbage.writeUInt32BE(0, 4); // nothing to attribute the error to

    raw.ws.send(garbage);

    expect(await raw.closed).toBe(1002);
    await expectStillServing(server);
  });

  it('closes on a text frame', async () => {
    const server = await startServer({ onRequest: echoHandler });
    const raw = await rawClient(server.port);

    raw.ws.send('{"type":"file.stat"}');

    expectError(await raw.nextFrame(), 0, 'E_FRAME_MALFORMED');
    expect(await raw.closed).toBe(1002);
    await expectStillServing(server);
  });

  it('gives back to its receive memory what it could not decode and answers nobody waited for', async () => {
    const given: Uint8Array[] = [];
    const memory = { take: (length: number) => Buffer.alloc(length), give: (bytes: Uint8Array) => void given.push(bytes) };
    const server = await startServer({ onRequest: echoHandler, receiveInto: memory });
    const first = await rawClient(server.port);
    // an answer to a request the server never sent, then bytes that are no frame
    first.ws.send(Buffer.from(encodeControl('ack', 12345, {})));
    first.ws.send(Buffer.from([0xde, 0xad, 0xbe]));
    expect(await first.closed).toBe(1002);
    await waitFor(() => given.length === 2, 'both messages to be given back');
    expect(given.map((bytes) => bytes.length)).toEqual([encodeControl('ack', 12345, {}).length, 3]);

    const second = await rawClient(server.port);
    second.ws.send('{"type":"file.stat"}');
    expect(await second.closed).toBe(1002);
    await waitFor(() => given.length === 3, 'the text message to be given back');
  });

  it('drops a refused upgrade once answered, even when the client keeps its side open', async () => {
    const server = await startServer({ onRequest: echoHandler });
    const connections = () => new Promise<number>((resolve, reject) => server.http.getConnections((err, n) => (err ? reject(err) : resolve(n))));
    for (const request of ['GET /other HTTP/1.1', 'GET /ws HTTP/1.1']) {
      // a client that allows half-open connections and never ends its side
      const socket = connectTcp({ port: server.port, host: '127.0.0.1', allowHalfOpen: true });
      cleanups.push(() => socket.destroy());
      let answer = '';
      socket.on('data', (data: Buffer) => (answer += data.toString('latin1')));
      const ended = new Promise((resolve) => socket.on('end', resolve));
      socket.write(`${request}\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n`);
      await ended;
      expect(answer).toMatch(/^HTTP\/1\.1 (404|400) /);
      await waitFor(async () => (await connections()) === 0, 'the server to drop its side');
      socket.destroy();
    }
  });

  it('reads frames that came in one write with the upgrade: a request there is answered, a bad frame there closes only that connection', async () => {
    const server = await startServer({ onRequest: echoHandler });
    const request = header({ type: MESSAGES['nodes.list'].code, requestId: 5 });
    const answered = await upgradeWith(server.port, maskedFrame(request));
    expect(answered.subarray(answered.indexOf('\r\n\r\n') + 4)[0]).toBe(0x82); // a binary message came back
    const frameAt = answered.indexOf('\r\n\r\n') + 4 + 2;
    expect(decodeFrame(answered.subarray(frameAt, frameAt + answered[frameAt - 1])).type).toBe('nodes.info');

    const refused = await upgradeWith(server.port, Buffer.from([0x82, 0x00])); // a client frame must be masked
    const closeAt = refused.indexOf('\r\n\r\n') + 4;
    expect(refused[closeAt]).toBe(0x88); // a close frame
    expect(refused.readUInt16BE(closeAt + 2)).toBe(1002);
    await expectStillServing(server); // and the process did not fall over an 'error' nobody listened to yet
  });

  it('answers a close frame without a valid code with 1002, and reads nothing after a close frame', async () => {
    const handled: string[] = [];
    const server = await startServer({ onRequest: (frame, peer) => (handled.push(frame.type), echoHandler(frame, peer)) });
    for (const [payload, expected] of [[Buffer.from([0x03, 0xed]), 1002], [Buffer.from([0x03]), 1002], [Buffer.from([0x0f, 0xa1]), 4001]] as const) {
      // then a request, which must not be answered: it came after the close
      const bytes = await upgradeWith(server.port, Buffer.concat([maskedFrame(payload, 0x8), maskedFrame(header({ type: MESSAGES['nodes.list'].code, requestId: 6 }))]));
      const at = bytes.indexOf('\r\n\r\n') + 4;
      expect([bytes[at], bytes.readUInt16BE(at + 2)]).toEqual([0x88, expected]);
      expect(bytes.length).toBe(at + 2 + bytes[at + 1]); // nothing after our close frame
    }
    expect(handled).toEqual([]);
  });

  it('answers a request with a wrong protocol version with E_VERSION, then closes (docs/protocol.md)', async () => {
    const server = await startServer({ onRequest: echoHandler });
    const raw = await rawClient(server.port);

    raw.ws.send(header({ version: PROTOCOL_VERSION + 1, type: MESSAGES['nodes.list'].code, requestId: 7 }));
    expectError(await raw.nextFrame(), 7, 'E_VERSION');
    expect(await raw.closed).toBe(1002);
    await expectStillServing(server);
  });

  it('closes on a wrong version it cannot attribute to a request', async () => {
    const server = await startServer({ onRequest: echoHandler });
    const raw = await rawClient(server.port);

    raw.ws.send(header({ version: 0, type: MESSAGES['nodes.list'].code, requestId: 0 }));

    expectError(await raw.nextFrame(), 0, 'E_VERSION');
    expect(await raw.closed).toBe(1002);
    await expectStillServing(server);
  });

  it('answers an unknown message type with E_UNKNOWN_TYPE', async () => {
    const server = await startServer({ onRequest: echoHandler });
    const raw = await rawClient(server.port);

    raw.ws.send(header({ type: 0xee, requestId: 9 }));

    expectError(await raw.nextFrame(), 9, 'E_UNKNOWN_TYPE');
    expect(server.protocolErrors).toEqual(['E_UNKNOWN_TYPE']);
    await expectStillServing(server);
  });

  it.each([
    ['a body that is not JSON', Buffer.from('{not json'), 'E_FRAME_MALFORMED'],
    ['a body its schema refuses', Buffer.from('{"name":42}'), 'E_BAD_MESSAGE'],
    ['an invalid file name', Buffer.from('{"name":"a/../b"}'), 'E_NAME_INVALID'],
  ])('answers a request with %s with its error code', async (_what, body, code) => {
    const server = await startServer({ onRequest: echoHandler });
    const raw = await rawClient(server.port);

    raw.ws.send(header({ type: MESSAGES['file.stat'].code, requestId: 11 }, body));

    expectError(await raw.nextFrame(), 11, code);
    raw.ws.send(encodeControl('file.stat', 12, { name: 'fine.txt' }));
    expect((await raw.nextFrame()).requestId).toBe(12);
  });

  it('closes with 1009 on a frame larger than MAX_FRAME_SIZE', async () => {
    const server = await startServer({ onRequest: echoHandler });
    const raw = await rawClient(server.port);

    raw.ws.send(Buffer.alloc(MAX_FRAME_SIZE + 1));

    expect(await raw.closed).toBe(1009);
    await expectStillServing(server);
  });
});

// ---------------------------------------------------------------------------------------------------
// Limits on peers (docs: limits.ts): connection caps, idle timeout, requests in flight.
// ---------------------------------------------------------------------------------------------------

/** A raw client that upgrades, sends a (masked, zero-key) close frame, and keeps its side of TCP open. */
async function upgradeThenCloseFrame(port: number): Promise<{ socket: Socket; closeAnswered: () => boolean }> {
  const socket = connectTcp({ port, host: '127.0.0.1', allowHalfOpen: true }); // the server's FIN does not end our side
  cleanups.push(() => socket.destroy());
  socket.on('error', () => undefined);
  let received = Buffer.alloc(0);
  socket.on('data', (data) => (received = Buffer.concat([received, data])));
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.write(`GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  await waitFor(() => received.includes('\r\n\r\n'), 'the upgrade answer');
  const upgraded = received.indexOf('\r\n\r\n') + 4;
  socket.write(Buffer.from([0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8])); // close 1000, masked with a zero key
  // The server's close frame back: 0x88 right after the upgrade answer.
  return { socket, closeAnswered: () => received.length > upgraded && received[upgraded] === 0x88 };
}

/** Opens a raw WebSocket: resolves with it once open, or with the HTTP status of a refused upgrade. */
function tryUpgrade(port: number): Promise<WebSocket | number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, { perMessageDeflate: false });
    cleanups.push(() => ws.terminate());
    ws.on('error', () => undefined); // terminating a refused upgrade emits one; the status is what we want
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0));
    setTimeout(() => reject(new Error('the upgrade got no answer')), 5_000).unref();
  });
}

async function waitFor(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** A client frame (FIN, masked with a zero key) of `opcode`, binary by default; payloads under 126 bytes. */
function maskedFrame(payload: Buffer, opcode = 0x2): Buffer {
  return Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | payload.length, 0, 0, 0, 0]), payload]);
}

/** Upgrades a raw TCP connection with `frames` in the same write, then half-closes; resolves with all it got back once closed. */
function upgradeWith(port: number, frames: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connectTcp(port, '127.0.0.1', () => {
      const upgrade = `GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`;
      socket.write(Buffer.concat([Buffer.from(upgrade), frames]));
      setTimeout(() => socket.end(), 300).unref(); // time to answer, then we go
    });
    const parts: Buffer[] = [];
    socket.on('data', (data: Buffer) => parts.push(data));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(parts)));
  });
}

/** Sends an upgrade request to /ws that the WebSocket server refuses (no Sec-WebSocket-Key); resolves with its status line. */
function badUpgrade(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connectTcp(port, '127.0.0.1', () =>
      socket.write('GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n'),
    );
    let answer = '';
    socket.on('data', (data) => (answer += data.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(answer.split('\r\n')[0]));
  });
}

describe('attachRpcServer limits', () => {
  it('refuses a third connection from one address with 503 when maxConnectionsPerAddress is 2, and tells onLimit', async () => {
    const limits: Array<[string, string]> = [];
    const server = await startServer({ onRequest: echoHandler, maxConnectionsPerAddress: 2, onLimit: (reason, remote) => limits.push([reason, remote]) });

    const first = await tryUpgrade(server.port);
    const second = await tryUpgrade(server.port);
    expect(first).toBeInstanceOf(WebSocket);
    expect(second).toBeInstanceOf(WebSocket);
    expect(limits).toEqual([]);

    expect(await tryUpgrade(server.port)).toBe(503);
    expect(limits).toEqual([['too many connections from one address', '127.0.0.1']]);
    expect(server.rpc.peers.size).toBe(2);

    // A slot frees when a connection closes.
    (first as WebSocket).close();
    await waitFor(() => server.rpc.peers.size === 1, 'the server to drop the closed connection');
    expect(await tryUpgrade(server.port)).toBeInstanceOf(WebSocket);
    expect(await tryUpgrade(server.port)).toBe(503);
  });

  it('counts a connection until its socket has closed, not only until its close frame: a client keeping its side open holds its slot', async () => {
    const server = await startServer({ onRequest: echoHandler, maxConnectionsPerAddress: 2 });
    // Two clients that upgrade, send a close frame, and never end their side of the TCP connection.
    const lingering = await Promise.all([0, 1].map(() => upgradeThenCloseFrame(server.port)));
    await waitFor(() => lingering.every((l) => l.closeAnswered()), 'the server to answer both close frames');

    expect(await tryUpgrade(server.port)).toBe(503);
    expect(server.rpc.peers.size).toBe(2);

    lingering.forEach((l) => l.socket.destroy());
    await waitFor(() => server.rpc.peers.size === 0, 'the server to see both sockets closed');
    expect(await tryUpgrade(server.port)).toBeInstanceOf(WebSocket);
  });

  it('refuses connections beyond maxConnections with 503, whatever their address', async () => {
    const limits: string[] = [];
    const server = await startServer({ onRequest: echoHandler, maxConnections: 2, onLimit: (reason) => limits.push(reason) });

    expect(await tryUpgrade(server.port)).toBeInstanceOf(WebSocket);
    expect(await tryUpgrade(server.port)).toBeInstanceOf(WebSocket);
    expect(await tryUpgrade(server.port)).toBe(503);
    expect(limits).toEqual(['too many connections']);
  });

  it('does not count upgrades refused for their path', async () => {
    const server = await startServer({ onRequest: echoHandler, maxConnectionsPerAddress: 1 });
    const wrongPath = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${server.port}/elsewhere`);
      cleanups.push(() => ws.terminate());
      ws.on('error', () => undefined);
      ws.once('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0));
    });
    expect(wrongPath).toBe(404);
    expect(await tryUpgrade(server.port)).toBeInstanceOf(WebSocket);
  });

  // KNOWN BUG (reported): rpc-server.ts counts the address before wss.handleUpgrade, whose callback
  // never runs when the handshake fails (ws answers 400 and destroys the socket), so the count is
  // never given back. Each bad upgrade leaks a slot until the address is locked out for good.
  // Remove `.failing` once failed handshakes release their slot.
  it('gives the slot back when a WebSocket handshake on /ws fails', async () => {
    const server = await startServer({ onRequest: echoHandler, maxConnectionsPerAddress: 2 });

    expect(await badUpgrade(server.port)).toBe('HTTP/1.1 400 Bad Request');
    expect(await badUpgrade(server.port)).toBe('HTTP/1.1 400 Bad Request');

    expect(await tryUpgrade(server.port)).toBeInstanceOf(WebSocket);
  });

  it('closes a connection idle for idleTimeoutMs and tells onLimit, but not one that keeps sending', async () => {
    const limits: string[] = [];
    const server = await startServer({ onRequest: echoHandler, idleTimeoutMs: 200, onLimit: (reason) => limits.push(reason) });
    const started = Date.now();
    const idle = await rawClient(server.port);
    const idleClosedAt = idle.closed.then(() => Date.now());
    const busy = await connect(server.address);

    let answered = 0;
    while (Date.now() - started < 700) {
      expect(await stat(busy, `tick-${answered}`)).toBe(`tick-${answered}`);
      answered++;
      await sleep(25);
    }

    expect(await idle.closed).not.toBe(1000);
    expect((await idleClosedAt) - started).toBeGreaterThanOrEqual(195); // not before the timeout…
    expect((await idleClosedAt) - started).toBeLessThan(700); // …but well within the test
    expect(limits).toContain('idle timeout');
    expect(busy.isOpen).toBe(true);
    expect(answered).toBeGreaterThan(5);
    expect(server.rpc.peers.size).toBe(1);
  });

  it('closes a peer trickling a message it never finishes (slow-loris): only complete frames count as activity', async () => {
    const limits: string[] = [];
    const server = await startServer({ onRequest: echoHandler, idleTimeoutMs: 200, onLimit: (reason) => limits.push(reason) });
    const raw = await rawClient(server.port);
    const frame = encodeControl('nodes.list', 1, {});
    let sent = 0;
    const trickle = setInterval(() => {
      if (raw.ws.readyState === WebSocket.OPEN) raw.ws.send(frame.subarray(sent % frame.length, (sent++ % frame.length) + 1), { fin: false });
    }, 30);
    cleanups.push(() => clearInterval(trickle));

    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([raw.closed, new Promise<string>((resolve) => (timer = setTimeout(() => resolve('still open'), 2_000)))]);
    clearTimeout(timer);

    expect(code).not.toBe('still open');
    expect(limits).toEqual(['idle timeout']);
    expect(sent).toBeGreaterThan(3); // it was sending all along
  });

  it('keeps counting activity on the server side when the server is the one sending requests', async () => {
    const serverSide: RpcPeer[] = [];
    const server = await startServer({ onRequest: echoHandler, onConnection: (peer) => serverSide.push(peer) });
    const client = await connect(server.address, { onRequest: () => ({ type: 'nodes.info', body: { nodes: [] } }) });
    await stat(client, 'hello');
    const before = serverSide[0].lastActivity;
    await sleep(20);

    await serverSide[0].request('nodes.list', {});

    expect(serverSide[0].lastActivity).toBeGreaterThan(before);
    expect(client.lastActivity).toBeGreaterThan(before);
  });

  it(`answers request ${MAX_REQUESTS_IN_FLIGHT + 1} in flight on one connection with E_UNAVAILABLE at once, and recovers`, async () => {
    const never = gate();
    let handled = 0;
    const server = await startServer({
      onRequest: async (frame, peer) => {
        if (frame.type !== 'nodes.list') return echoHandler(frame, peer);
        handled++;
        await never.opened;
        return { type: 'nodes.info', body: { nodes: [] } };
      },
    });
    // A peer of its own making: ours would not send the extra request before a slot is free.
    const client = await connect(server.address, { maxRequestsInFlight: MAX_REQUESTS_IN_FLIGHT + 10 });

    const held = Array.from({ length: MAX_REQUESTS_IN_FLIGHT }, () => codeOf(client.request('nodes.list', {})));
    const over = codeOf(client.request('nodes.list', {}));

    expect(await over).toBe('E_UNAVAILABLE'); // answered while the others still wait
    expect(handled).toBe(MAX_REQUESTS_IN_FLIGHT); // the extra one never reached the handler
    expect(await codeOf(client.request('file.stat', { name: 'also-refused' }))).toBe('E_UNAVAILABLE');
    expect(client.isOpen).toBe(true);
    await expectStillServing(server); // the limit is per connection

    never.open();
    expect(new Set(await Promise.all(held))).toEqual(new Set(['resolved']));
    expect(await stat(client, 'after')).toBe('after');
  });

  it(`queues its own requests beyond ${MAX_REQUESTS_IN_FLIGHT} in flight instead of having them refused; one aborted or timed out while queued leaves the queue`, async () => {
    const held = gate();
    let handling = 0;
    let most = 0;
    const server = await startServer({
      onRequest: async (frame, peer) => {
        if (frame.type !== 'nodes.list') return echoHandler(frame, peer);
        most = Math.max(most, ++handling);
        await held.opened;
        handling--;
        return { type: 'nodes.info', body: { nodes: [] } };
      },
    });
    const client = await connect(server.address, { requestTimeoutMs: 60_000 });

    const many = Array.from({ length: 3 * MAX_REQUESTS_IN_FLIGHT }, () => codeOf(client.request('nodes.list', {})));
    const aborter = new AbortController();
    const aborted = codeOf(client.request('nodes.list', {}, { signal: aborter.signal }));
    const timedOut = codeOf(client.request('nodes.list', {}, { timeoutMs: 50 })); // no progress while all wait
    while (handling < MAX_REQUESTS_IN_FLIGHT) await sleep(5);
    aborter.abort();
    expect(await aborted).toBe('E_ABORTED');
    expect(await timedOut).toBe('E_TIMEOUT');

    held.open();
    expect(new Set(await Promise.all(many))).toEqual(new Set(['resolved']));
    expect(most).toBe(MAX_REQUESTS_IN_FLIGHT);
    expect(await stat(client, 'after')).toBe('after'); // the slots of the two that left are free again
  });

  it('keeps the slot of a request it gave up after sending until the other side answers it, so that the next is not refused', async () => {
    const held = gate();
    let handling = 0;
    const server = await startServer({
      onRequest: async (frame, peer) => {
        if (frame.type !== 'nodes.list') return echoHandler(frame, peer);
        handling++;
        await held.opened;
        handling--;
        return { type: 'nodes.info', body: { nodes: [] } };
      },
    });
    const client = await connect(server.address, { requestTimeoutMs: 60_000 });
    const aborters = Array.from({ length: MAX_REQUESTS_IN_FLIGHT }, () => new AbortController());
    const sent = aborters.map((aborter) => codeOf(client.request('nodes.list', {}, { signal: aborter.signal })));
    while (handling < MAX_REQUESTS_IN_FLIGHT) await sleep(5);
    for (const aborter of aborters.slice(0, 10)) aborter.abort(); // given up here, still counted there
    const next = codeOf(client.request('nodes.list', {}));

    expect(new Set(await Promise.all(sent.slice(0, 10)))).toEqual(new Set(['E_ABORTED']));
    await sleep(50);
    expect(handling).toBe(MAX_REQUESTS_IN_FLIGHT); // the next one waits: it was not sent to be refused
    held.open();
    expect(await next).toBe('resolved');
    expect(new Set(await Promise.all(sent.slice(10)))).toEqual(new Set(['resolved']));
    expect(await stat(client, 'after')).toBe('after'); // the slots came back with the late answers
  });

  it(`works on ${MAX_REQUESTS_ANSWERED_AT_ONCE} chunk reads of a connection at once; the others wait their turn, and all are answered`, async () => {
    const held = gate();
    let reading = 0;
    let most = 0;
    const server = await startServer({
      onRequest: async (frame, peer) => {
        if (frame.type !== 'chunk.get') return echoHandler(frame, peer);
        most = Math.max(most, ++reading);
        await held.opened;
        reading--;
        return { type: 'chunk.data', hash: frame.body.hash, payload: Buffer.alloc(1000, 1) };
      },
    });
    const client = await connect(server.address);
    const hash = 'a'.repeat(64);

    const reads = Array.from({ length: 20 }, () => codeOf(client.request('chunk.get', { hash, grant: GRANT })));
    expect(await stat(client, 'meanwhile')).toBe('meanwhile'); // other requests are not held up by the turns
    expect(most).toBe(MAX_REQUESTS_ANSWERED_AT_ONCE);

    held.open();
    expect(new Set(await Promise.all(reads))).toEqual(new Set(['resolved']));
    expect(most).toBe(MAX_REQUESTS_ANSWERED_AT_ONCE);
  });
});
