import { KeyObject, createPrivateKey, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Socket, connect as tcpConnect } from 'node:net';
import fc from 'fast-check';
import type WebSocket from 'ws';
import {
  MAX_CONNECTIONS_PER_ADDRESS,
  MAX_REQUESTS_IN_FLIGHT,
  decodeFrame,
  MAX_CONTROL_FRAME_SIZE,
  MAX_FRAME_SIZE,
  MAX_NAME_BYTES,
  encodeControl,
  encodeData,
  concatFrame,
  signGrant,
} from '@cairn/protocol';
import { CairnClient, UNCHECKED_STALE_MS, expectFrame } from '@cairn/transfer';
import { TestCluster } from './support/test-cluster';
import { FuzzConnection, hostileFrame, sampleMax } from './support/fuzz';
import { type BegunMessage, answerCode, beginMessage, errorCode, exchange, handmadeFrame, httpStatus, isRunning, metricValue, openSocket, rawPeer, rawTcp, rssBytes } from './support/raw';
import { sha256 } from './support/files';

/**
 * DESIGN.md invariant 7, "bad input gets a clear error, never a crash", against real processes: every
 * endpoint (controller and node WebSocket, plain HTTP) is fed several hundred hostile frames or
 * requests; each gets an error frame (or HTTP error) or a clean close, the process stays up with
 * bounded memory, a well-behaved client on another connection keeps working during and after, and a
 * file stored before is still intact. Then bad names over the wire, slow peers and a connection flood.
 */
const FRAMES_PER_ENDPOINT = 400;
const FUZZ_TIME_LIMIT_MS = 20_000;
const RSS_GROWTH_LIMIT = 150 * 1024 * 1024;
const MiB = 1024 * 1024;

/** Puts and gets a small file in a loop until stopped; every round must succeed. */
function wellBehavedClient(client: CairnClient, prefix: string) {
  let stopped = false;
  let rounds = 0;
  const errors: string[] = [];
  const loop = (async () => {
    while (!stopped) {
      const content = randomBytes(64 * 1024 + rounds);
      const name = `${prefix}/round-${rounds % 4}.bin`;
      try {
        await client.put(name, content);
        const back: Buffer[] = [];
        for await (const piece of client.read(name)) back.push(piece);
        if (sha256(Buffer.concat(back)) !== sha256(content)) errors.push(`round ${rounds}: different bytes`);
      } catch (err) {
        errors.push(`round ${rounds}: ${(err as Error).message}`);
      }
      rounds++;
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
      return { rounds, errors };
    },
  };
}

async function readAll(client: CairnClient, name: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const piece of client.read(name)) parts.push(piece);
  return Buffer.concat(parts);
}

describe('hostile input', () => {
  let cluster: TestCluster;
  let grantKey: KeyObject;
  const kept = { name: 'keep/original.bin', content: randomBytes(2_500_000) };

  beforeAll(async () => {
    // Two nodes and two replicas: every chunk of every put goes through both nodes.
    cluster = await TestCluster.start({ nodes: 2, replicas: 2 });
    grantKey = createPrivateKey(readFileSync(join(cluster.root, 'controller', 'grant-key.pem')));
    await cluster.sdk.put(kept.name, kept.content);
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  /**
   * Fuzzes with `connections` (chosen at random per frame) while a good client works; checks the
   * aftermath. `maxMessage`: the largest message the endpoint takes (the controller takes no chunks).
   */
  async function fuzzEndpoint(pid: number, connections: FuzzConnection[], seeds: Buffer[], label: string, maxMessage = MAX_FRAME_SIZE) {
    const rssBefore = rssBytes(pid);
    const rss = sampleMax(() => rssBytes(pid));
    const good = wellBehavedClient(cluster.client(), `good/${label}`);
    let oversizedCloses: number[] = [];
    try {
      await fc.assert(
        fc.asyncProperty(hostileFrame(seeds), fc.nat(connections.length - 1), async (frame, which) => {
          await connections[which].send(frame);
        }),
        { numRuns: FRAMES_PER_ENDPOINT, endOnFailure: true, interruptAfterTimeLimit: FUZZ_TIME_LIMIT_MS, markInterruptAsFailure: true },
      );
      // Frames over the endpoint's limit: refused by the WebSocket layer (1009) before they are buffered whole.
      oversizedCloses = [await connections[0].sendOversized(maxMessage + 1), await connections[0].sendOversized(maxMessage + 65_536)];
    } finally {
      connections.forEach((c) => c.close());
    }
    const { rounds, errors } = await good.stop();
    const rssMax = rss.stop();

    expect(isRunning(pid)).toBe(true);
    expect(oversizedCloses).toEqual([1009, 1009]);
    const frames = connections.reduce((n, c) => n + c.stats.frames, 0);
    const answered = connections.reduce((n, c) => n + c.stats.answered, 0);
    const closes = connections.reduce((n, c) => n + c.stats.closes, 0);
    expect(frames).toBeGreaterThanOrEqual(FRAMES_PER_ENDPOINT);
    expect(answered).toBeGreaterThan(FRAMES_PER_ENDPOINT / 4); // most bad frames are answered, not just dropped
    expect(closes).toBeGreaterThan(10);
    expect(rssMax - rssBefore).toBeLessThan(RSS_GROWTH_LIMIT);
    expect(errors).toEqual([]);
    expect(rounds).toBeGreaterThanOrEqual(1);
    // After: a fresh client works, and what was stored before is intact.
    const after = cluster.client();
    await after.put(`good/${label}/after.bin`, randomBytes(10_000));
    expect(sha256(await readAll(after, kept.name))).toBe(sha256(kept.content));
  }

  it('controller /ws: hostile frames get an error frame or a clean close (past the largest control frame, 1009); the controller keeps serving', async () => {
    const { token } = await cluster.sdk.createToken('write', 'fuzz/');
    const hash = sha256(Buffer.from('x'));
    const seeds = [
      encodeControl('session.auth', 11, { token: 'cairn_0000000000000000_' + 'A'.repeat(43) }),
      encodeControl('upload.begin', 12, { name: 'fuzz/a.bin' }),
      encodeControl('upload.place', 13, { uploadId: 'abcdefghijkl', chunks: [{ index: 0, hash, size: 1 }] }),
      encodeControl('upload.stored', 14, { uploadId: 'abcdefghijkl', chunks: [{ index: 0, hash, size: 1, nodes: [cluster.nodes[0].id], receipts: ['0'.repeat(64)] }] }),
      encodeControl('upload.commit', 15, { uploadId: 'abcdefghijkl', size: 1, sha256: hash, chunkCount: 1 }),
      encodeControl('file.stat', 16, { name: 'fuzz/a.bin' }),
      encodeControl('file.chunks', 17, { name: 'keep/original.bin', fileId: 1, from: 0, limit: 10 }),
      encodeControl('file.list', 18, { prefix: '', limit: 10 }),
      encodeControl('file.remove', 19, { name: 'fuzz/a.bin' }),
      encodeControl('cluster.status', 20, {}),
      encodeControl('node.hello', 21, { nodeId: 'fuzz-node', nonce: randomBytes(32).toString('hex') }),
      encodeControl('node.register', 22, { nodeId: 'fuzz-node', address: '127.0.0.1:9', zone: null, capacity: 1, used: 0, chunks: 0, proof: hash }),
      encodeControl('node.heartbeat', 23, { capacity: 1, used: 0, chunks: 0 }),
      encodeControl('token.revoke', 24, { id: '0123456789abcdef' }),
      encodeControl('chunk.bad', 25, { hash, nodeId: 'nobody', reason: 'fuzz' }),
      concatFrame(encodeData('chunk.put', 26, hash, Buffer.from('x'), 'grant')),
    ];
    // Two hostile clients: one anonymous, one holding a write token for fuzz/ (so frames reach the
    // handlers behind authentication). They connect from other loopback addresses than the good client,
    // whose address must not be caught by the failed-authentication cap the fuzz trips.
    const anonymous = new FuzzConnection(cluster.controllerAddress, {
      localAddress: '127.0.0.2',
      probe: (id) => encodeControl('nodes.list', id, {}),
    });
    const authenticated = new FuzzConnection(cluster.controllerAddress, {
      localAddress: '127.0.0.4',
      probe: (id) => encodeControl('nodes.list', id, {}),
      prelude: async (socket, next) => {
        socket.send(encodeControl('session.auth', 1, { token }), { binary: true });
        await next(); // session.info, or E_AUTH once the fuzz has tripped the cap for this address
      },
    });
    await fuzzEndpoint(cluster.controller.child.pid as number, [anonymous, authenticated], seeds, 'controller', MAX_CONTROL_FRAME_SIZE);
    // The token's prefix held: nothing outside fuzz/ and good/ appeared, nothing was removed.
    const names = [];
    for await (const file of cluster.sdk.ls('')) names.push(file.name);
    expect(names.filter((n) => !n.startsWith('fuzz/') && !n.startsWith('good/'))).toEqual([kept.name]);
  });

  it('node /ws: hostile frames get an error frame or a clean close; the node keeps serving', async () => {
    const node = cluster.nodes[0];
    const payload = randomBytes(2048);
    const hash = sha256(payload);
    const putGrant = signGrant(grantKey, { op: 'put', hashes: [hash], nodes: [node.id], exp: Date.now() + 600_000 });
    const stat = await cluster.sdk.stat(kept.name);
    const keptHash = stat.chunks[0].hash;
    const getGrant = signGrant(grantKey, { op: 'get', hashes: [keptHash], exp: Date.now() + 600_000 });
    const seeds = [
      concatFrame(encodeData('chunk.put', 31, hash, payload, putGrant)),
      concatFrame(encodeData('chunk.put', 32, hash, payload.subarray(0, 100), '')),
      encodeControl('chunk.get', 33, { hash: keptHash, grant: getGrant }),
      encodeControl('chunk.has', 34, { hashes: [keptHash, hash], grant: getGrant }),
      encodeControl('chunk.delete', 35, { hashes: [keptHash], minAgeMs: 0 }),
      encodeControl('chunk.replicate', 36, { hash: keptHash, size: 10, source: { id: 'x', address: '127.0.0.1:9' }, grant: getGrant }),
      encodeControl('chunk.check', 37, { hash: keptHash }),
      encodeControl('node.register', 38, { nodeId: 'fuzz', address: '127.0.0.1:9', zone: null, capacity: 1, used: 0, chunks: 0, proof: hash }),
      concatFrame(encodeData('chunk.data', 39, hash, payload)),
    ];
    const probe = (id: number) => encodeControl('chunk.has', id, { hashes: [], grant: 'probe' });
    const connections = [
      new FuzzConnection(`127.0.0.1:${node.port}`, { localAddress: '127.0.0.2', probe }),
      new FuzzConnection(`127.0.0.1:${node.port}`, { localAddress: '127.0.0.3', probe }),
    ];
    await fuzzEndpoint(node.proc.child.pid as number, connections, seeds, 'node');
    // Every chunk of the kept file is still on both nodes.
    for (const chunk of stat.chunks) expect((await cluster.chunkFiles(chunk.hash)).length).toBe(2);
  });

  it('HTTP: random methods, paths, headers and malformed requests get an HTTP answer or a close', async () => {
    const targets = [
      { label: 'controller', port: cluster.controllerPort, pid: cluster.controller.child.pid as number },
      { label: 'node', port: cluster.nodes[1].port, pid: cluster.nodes[1].proc.child.pid as number },
    ];
    const token = fc.stringMatching(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,12}$/);
    const printable = fc.stringMatching(/^[ -~]{0,60}$/);
    const junk = fc.string({ unit: 'binary', maxLength: 40 });
    const method = fc.oneof(fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'TRACE', 'CONNECT', 'PRI', ''), token, junk);
    const goodPath = fc.oneof(
      fc.constantFrom('/', '/ws', '/ws?x=1', '/healthz', '/readyz', '/metrics', '/api/overview', '/api/files', '/api/files?limit=0', '/api/files?prefix=%00',
        '/api/files?limit=99999999999999999999', '/api/files?prefix=%ff%fe&after=%c0%af', '/app.js', '/../../../etc/passwd', '/%2e%2e/%2e%2e/etc/passwd',
        '/%00', '/%ff%fe', '//', '*', 'http://evil.example/', '/' + 'a'.repeat(9000), '/?' + '&x'.repeat(3000)),
      fc.webPath().map((p) => p || '/'),
    );
    const path = fc.oneof(goodPath, fc.webUrl(), junk);
    const version = fc.constantFrom('HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/0.9', 'HTTP/1.1 extra', '');
    const specialHeader = fc.constantFrom(
      'Content-Length: 5', 'Content-Length: -1', 'Content-Length: 99999999999999999999', 'Content-Length: 1\r\nContent-Length: 2',
      'Transfer-Encoding: chunked', 'Transfer-Encoding: chunked, identity', 'Expect: 100-continue', 'Connection: Upgrade', 'Upgrade: websocket',
      'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Version: 99', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Key: !!!',
      'Authorization: Bearer cairn_0000000000000000_AAAA', 'Authorization: Basic Og==', 'Accept-Encoding: gzip, br', `X-Long: ${'v'.repeat(20_000)}`,
      ' folded: header', 'No-Colon-Header', 'Bad\u0000Name: x',
    );
    const cleanHeader = fc.tuple(token, printable).map(([k, v]) => `${k}: ${v}`);
    const header = fc.oneof(cleanHeader, specialHeader, fc.tuple(token, junk).map(([k, v]) => `${k}: ${v}`), junk);
    const body = fc.oneof(fc.constant(''), fc.constant('0\r\n\r\n'), fc.constant('zz\r\nxx\r\n'), junk);
    const request = fc.oneof(
      {
        // Well-formed requests with hostile contents: they get past the parser to the router and its routes.
        weight: 6,
        arbitrary: fc
          .tuple(fc.constantFrom('GET', 'GET', 'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS'), goodPath, fc.array(cleanHeader, { maxLength: 5 }), fc.option(specialHeader))
          .map(([m, p, h, special]) => Buffer.from(`${m} ${p} HTTP/1.1\r\nHost: 127.0.0.1\r\n${[...h, ...(special ? [special] : [])].map((x) => `${x}\r\n`).join('')}\r\n`, 'latin1')),
      },
      // Malformed: bad methods, versions, header lines, bodies.
      { weight: 3, arbitrary: fc.tuple(method, path, version, fc.array(header, { maxLength: 8 }), body).map(([m, p, v, h, b]) => Buffer.from(`${m} ${p} ${v}\r\n${h.join('\r\n')}\r\n\r\n${b}`, 'latin1')) },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 400 }).map((b) => Buffer.from(b)) },
      { weight: 1, arbitrary: fc.tuple(method, path).map(([m, p]) => Buffer.from(`${m} ${p} HTTP/1.1\r\nHost: x\r\n`, 'latin1')) }, // headers never end
    );
    const samples = fc.sample(request, { numRuns: 320 });

    for (const target of targets) {
      const rssBefore = rssBytes(target.pid);
      const rss = sampleMax(() => rssBytes(target.pid));
      const good = wellBehavedClient(cluster.client(), `good/http-${target.label}`);
      const statuses: Record<string, number> = {};
      const hung: string[] = [];
      const started = Date.now();
      let next = 0;
      const worker = async () => {
        while (next < samples.length && Date.now() - started < FUZZ_TIME_LIMIT_MS) {
          const bytes = samples[next++];
          // We half-close after sending, as a client that is done would: the process must answer or close.
          const { response, closed } = await rawTcp(target.port, bytes, { timeoutMs: 5_000, localAddress: '127.0.0.2' });
          const status = /^HTTP\/1\.[01] (\d{3})/.exec(response.toString('latin1'))?.[1] ?? (response.length === 0 ? 'closed' : 'other');
          statuses[status] = (statuses[status] ?? 0) + 1;
          // An event stream (/api/events) legitimately stays open: it answered 200 with its headers.
          if (!closed && status !== '200') hung.push(bytes.subarray(0, 120).toString('latin1'));
        }
      };
      await Promise.all(Array.from({ length: 8 }, worker));
      const { rounds, errors } = await good.stop();
      const rssMax = rss.stop();

      expect(isRunning(target.pid)).toBe(true);
      expect(next).toBe(samples.length);
      expect(hung).toEqual([]);
      expect(statuses['other']).toBeUndefined(); // whatever came back was an HTTP status line
      expect(statuses['500']).toBeUndefined(); // bad input is a client error, never an internal one
      expect(statuses['400']).toBeGreaterThan(10);
      expect((statuses['404'] ?? 0) + (statuses['405'] ?? 0)).toBeGreaterThan(10);
      expect(rssMax - rssBefore).toBeLessThan(RSS_GROWTH_LIMIT);
      expect(errors).toEqual([]);
      expect(rounds).toBeGreaterThanOrEqual(1);
      expect(await httpStatus(target.port, '/healthz')).toBe(200);
    }
  });

  it('bad names over the wire get E_NAME_INVALID, and nothing is written', async () => {
    const namesBefore: string[] = [];
    for await (const file of cluster.sdk.ls('')) namesBefore.push(file.name);
    const socket = await openSocket(cluster.controllerAddress);
    try {
      expect((await exchange(socket, handmadeFrame('session.auth', 1, JSON.stringify({ token: cluster.adminToken })))).type).toBe('session.info');
      const bad: Array<[string, string]> = [
        ['traversal', '../../etc/passwd'],
        ['traversal inside', 'a/../../b'],
        ['dot segment', 'a/./b'],
        ['absolute', '/etc/passwd'],
        ['NUL', 'a\u0000b'],
        ['empty', ''],
        ['empty segment', 'a//b'],
        ['trailing slash', 'a/'],
        ['over-long', 'x'.repeat(MAX_NAME_BYTES + 1)],
        ['over-long in bytes', 'é'.repeat(MAX_NAME_BYTES / 2 + 1)],
        ['far over-long', 'y'.repeat(100_000)],
        ['lone surrogate', 'a\ud800b'],
      ];
      let id = 100;
      for (const [what, name] of bad) {
        for (const [type, body] of [
          ['upload.begin', { name }],
          ['file.stat', { name }],
          ['file.remove', { name }],
          ['file.chunks', { name, fileId: 1, from: 0, limit: 1 }],
        ] as const) {
          const answer = await exchange(socket, handmadeFrame(type, ++id, JSON.stringify(body)));
          expect({ what, type, code: answerCode(answer) }).toEqual({ what, type, code: 'E_NAME_INVALID' });
        }
      }
      // The connection is still usable after all of that.
      expect((await exchange(socket, handmadeFrame('file.list', ++id, JSON.stringify({ prefix: '', limit: 1 })))).type).toBe('file.list-page');
    } finally {
      socket.terminate();
    }
    const namesAfter: string[] = [];
    for await (const file of cluster.sdk.ls('')) namesAfter.push(file.name);
    expect(namesAfter).toEqual(namesBefore);
  });

  /** Names carrying bytes that are not UTF-8, inside an otherwise well-formed upload.begin body. */
  const invalidUtf8Names: Array<[string, Buffer]> = [
    ['stray continuation bytes', Buffer.from([0x61, 0xff, 0xfe, 0x62])],
    ['overlong "/" (…%c0%af traversal)', Buffer.concat([Buffer.from('..'), Buffer.from([0xc0, 0xaf]), Buffer.from('etc')])],
    ['encoded surrogate', Buffer.from([0x61, 0xed, 0xa0, 0x80])],
    ['truncated sequence', Buffer.from([0x61, 0xe2, 0x82])],
  ];
  async function sendInvalidUtf8Names(): Promise<Array<[string, string | undefined]>> {
    const socket = await openSocket(cluster.controllerAddress);
    try {
      expect((await exchange(socket, handmadeFrame('session.auth', 1, JSON.stringify({ token: cluster.adminToken })))).type).toBe('session.info');
      const codes: Array<[string, string | undefined]> = [];
      let id = 500;
      for (const [what, bytes] of invalidUtf8Names) {
        const body = Buffer.concat([Buffer.from('{"name":"'), bytes, Buffer.from('"}')]);
        codes.push([what, answerCode(await exchange(socket, handmadeFrame('upload.begin', ++id, body)))]);
      }
      // The connection is still usable.
      expect((await exchange(socket, handmadeFrame('file.list', ++id, JSON.stringify({ prefix: '', limit: 1 })))).type).toBe('file.list-page');
      return codes;
    } finally {
      socket.terminate();
    }
  }

  it('a name with invalid UTF-8 bytes in the JSON is refused, and nothing is written', async () => {
    // Today the decoder refuses the whole body (E_FRAME_MALFORMED) before it sees a name; the known-gap
    // test below asks for E_NAME_INVALID, as docs/protocol.md says.
    for (const [what, code] of await sendInvalidUtf8Names()) {
      expect({ what, code }).toEqual({ what, code: expect.stringMatching(/^E_(NAME_INVALID|FRAME_MALFORMED)$/) });
    }
    const names: string[] = [];
    for await (const file of cluster.sdk.ls('')) names.push(file.name);
    expect(names.every((n) => /^(keep|good|fuzz)\//.test(n))).toBe(true);
  });

  // KNOWN GAP (issue 4, docs/protocol.md "File names"): a name with invalid UTF-8 bytes on the wire should
  // be E_NAME_INVALID; decodeFrame (libs/protocol/src/decoder.ts) answers E_FRAME_MALFORMED because it
  // decodes the whole control body with a fatal UTF-8 decoder first. Remove `.failing` once fixed.
  it('a name with invalid UTF-8 bytes in the JSON is E_NAME_INVALID', async () => {
    for (const [what, code] of await sendInvalidUtf8Names()) expect({ what, code }).toEqual({ what, code: 'E_NAME_INVALID' });
  });

  it(`connection flood: beyond ${MAX_CONNECTIONS_PER_ADDRESS} connections from one address a node answers 503; others keep working`, async () => {
    const node = cluster.nodes[0];
    const address = `127.0.0.1:${node.port}`;
    const pid = node.proc.child.pid as number;
    const rssBefore = rssBytes(pid);
    const opened: WebSocket[] = [];
    const refused: number[] = [];
    const failed: string[] = [];
    try {
      const attempts = await Promise.allSettled(Array.from({ length: 300 }, () => openSocket(address, { localAddress: '127.0.0.5' })));
      for (const a of attempts) {
        if (a.status === 'fulfilled') opened.push(a.value);
        else if ((a.reason as { statusCode?: number }).statusCode) refused.push((a.reason as { statusCode: number }).statusCode);
        else failed.push(String(a.reason));
      }
      expect(failed).toEqual([]);
      expect(opened.length).toBe(MAX_CONNECTIONS_PER_ADDRESS);
      expect(refused.length).toBe(300 - MAX_CONNECTIONS_PER_ADDRESS);
      expect(new Set(refused)).toEqual(new Set([503]));
      expect(isRunning(pid)).toBe(true);

      // Another address is served meanwhile: a chunk read with a grant, from 127.0.0.6.
      const stat = await cluster.sdk.stat(kept.name);
      const { hash } = stat.chunks[0];
      const other = await rawPeer(address, { localAddress: '127.0.0.6' });
      try {
        const grant = signGrant(grantKey, { op: 'get', hashes: [hash], exp: Date.now() + 60_000 });
        expect(sha256(expectFrame(await other.request('chunk.get', { hash, grant }), 'chunk.data').payload)).toBe(hash);
      } finally {
        other.close();
      }
      expect(rssBytes(pid) - rssBefore).toBeLessThan(RSS_GROWTH_LIMIT);
    } finally {
      for (const socket of opened) socket.terminate();
    }
    // Once they are gone, 127.0.0.5 is welcome again and the usual clients work.
    const again = await openSocket(address, { localAddress: '127.0.0.5' }).catch(async () => {
      await new Promise((r) => setTimeout(r, 500));
      return openSocket(address, { localAddress: '127.0.0.5' });
    });
    again.terminate();
    const client = cluster.client();
    await client.put('good/after-flood.bin', randomBytes(50_000));
    expect(sha256(await readAll(client, kept.name))).toBe(sha256(kept.content));
  });

  it('unfinished chunks without a valid grant: a node holds them only within its room for unchecked messages, refusing the rest with 1008 and dropping stalled ones for others; granted chunks are not held to it', async () => {
    const node = cluster.nodes[0];
    const forgedHead = (id: number) => concatFrame(encodeData('chunk.put', id, sha256(Buffer.from(`forged ${id}`)), Buffer.alloc(0), 'forged.grant'));
    // Each message as large as a node takes: one fills an address's share of the room, four the whole of it.
    const length = MAX_FRAME_SIZE - 1024;
    const held = async () => (await metricValue(node.port, 'cairn_node_unchecked_held_bytes')) ?? -1;
    const begun: BegunMessage[] = [];
    const begin = async (address: string) => {
      const message = await beginMessage(node.port, address, length, Buffer.concat([forgedHead(begun.length + 1), randomBytes(MiB)]));
      begun.push(message);
      return message;
    };
    /** The close code of `message` if the node closes it within 3 s, else 'open' (no hang if it never does). */
    const closedSoon = (message: BegunMessage) => Promise.race([message.closed, new Promise((r) => setTimeout(() => r('open'), 3_000))]);
    /** Waits until the node has either taken `message` (held bytes reach `expected`) or closed it. */
    const settle = async (message: BegunMessage, expected: number) => {
      for (let i = 0; i < 200 && !message.isClosed() && (await held()) < expected; i++) await new Promise((r) => setTimeout(r, 25));
    };
    try {
      const first = await begin('127.0.0.20');
      await settle(first, length);
      expect(await held()).toBe(length);
      // A second from the same address would go past its share: refused, whatever room is left (its
      // first has not stalled yet: that takes 5 s).
      const second = await begin('127.0.0.20');
      expect(await closedSoon(second)).toBe(1008);
      for (const [i, address] of ['127.0.0.21', '127.0.0.22', '127.0.0.23'].entries()) await settle(await begin(address), (i + 2) * length);
      expect(await held()).toBe(4 * length);
      // The room is full: a fifth address is refused too.
      expect(await closedSoon(await begin('127.0.0.24'))).toBe(1008);
      expect(begun.filter((m) => m.isClosed())).toHaveLength(2);
      expect(await metricValue(node.port, 'cairn_node_unchecked_refused_total')).toBeGreaterThanOrEqual(2);

      // Meanwhile a client's chunks, with grants, are stored as usual: they never need that room.
      const content = randomBytes(9 * MiB);
      const client = cluster.client();
      await client.put('good/beside-unchecked.bin', content);
      expect(sha256(await readAll(client, 'good/beside-unchecked.bin'))).toBe(sha256(content));

      // Once they have stalled (5 s at under 1 MiB/s), the oldest is dropped for a message that needs
      // the room: a whole chunk.put whose grant fails is answered with the grant's error, not refused.
      await new Promise((r) => setTimeout(r, UNCHECKED_STALE_MS + 300));
      const socket = await openSocket(`127.0.0.1:${node.port}`, { localAddress: '127.0.0.25' });
      try {
        const chunk = randomBytes(MiB);
        const answer = await exchange(socket, concatFrame(encodeData('chunk.put', 77, sha256(chunk), chunk, 'forged.grant')));
        expect(answerCode(answer)).toBe('E_FORBIDDEN');
      } finally {
        socket.terminate();
      }
      expect(await closedSoon(first)).not.toBe('open');
      expect(begun.filter((m) => m.isClosed())).toHaveLength(3); // the two refused, and the oldest dropped
      expect(await metricValue(node.port, 'cairn_node_unchecked_dropped_total')).toBeGreaterThanOrEqual(1);
    } finally {
      for (const message of begun) message.destroy();
    }
    for (let i = 0; i < 200 && (await held()) !== 0; i++) await new Promise((r) => setTimeout(r, 25));
    expect(await held()).toBe(0); // given back when their connections went, or their answers out
  });
});

describe('request flood', () => {
  let cluster: TestCluster;
  const content = randomBytes(4 * 1024 * 1024);
  let rssBaseline = 0;

  beforeAll(async () => {
    cluster = await TestCluster.start({ nodes: 1, replicas: 1 });
    await cluster.sdk.put('flood/file.bin', content);
    rssBaseline = rssBytes(cluster.nodes[0].proc.child.pid as number);
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  /** Writes `total` chunk.get requests (for the file's chunks, a valid grant) on one connection in one burst. */
  async function burst(total: number): Promise<{ counts: Record<string, number>; rssMax: number }> {
    const { chunks } = await cluster.sdk.stat('flood/file.bin');
    const grantKey = createPrivateKey(readFileSync(join(cluster.root, 'controller', 'grant-key.pem')));
    const grant = signGrant(grantKey, { op: 'get', hashes: chunks.map((c) => c.hash), exp: Date.now() + 60_000 });
    const pid = cluster.nodes[0].proc.child.pid as number;
    const socket = await openSocket(`127.0.0.1:${cluster.nodes[0].port}`);
    try {
      const answers = new Map<number, string>();
      const done = new Promise<void>((resolve) => {
        socket.on('message', (data: Buffer) => {
          const frame = decodeFrame(data);
          answers.set(frame.requestId, frame.type === 'error' ? frame.body.code : frame.type);
          if (answers.size === total) resolve();
        });
      });
      const rss = sampleMax(() => rssBytes(pid), 20);
      for (let i = 0; i < total; i++) socket.send(encodeControl('chunk.get', i + 1, { hash: chunks[i % chunks.length].hash, grant }), { binary: true });
      await done;
      const rssMax = rss.stop();
      const counts: Record<string, number> = {};
      for (const v of answers.values()) counts[v] = (counts[v] ?? 0) + 1;
      return { counts, rssMax };
    } finally {
      socket.terminate();
    }
  }

  // A connection's requests are worked on MAX_REQUESTS_ANSWERED_AT_ONCE at a time, each holding its turn
  // until its answer is handed to the socket: a burst of reads pins at most that many chunks (8 x 4 MiB
  // here), not one per request in flight (64 x 4 MiB would be +256 MiB).
  it('a burst of chunk reads on one connection keeps the node within +150 MB', async () => {
    // First in this block, so the node's memory has not grown from an earlier burst.
    const { rssMax } = await burst(400);
    expect(rssMax - rssBaseline).toBeLessThan(RSS_GROWTH_LIMIT);
  });

  it(`more than ${MAX_REQUESTS_IN_FLIGHT} requests in flight on one connection: the excess is answered E_UNAVAILABLE, the rest served`, async () => {
    const { counts } = await burst(400);
    expect(Object.keys(counts).sort()).toEqual(['E_UNAVAILABLE', 'chunk.data']);
    expect(counts['chunk.data']).toBeGreaterThanOrEqual(MAX_REQUESTS_IN_FLIGHT);
    expect(isRunning(cluster.nodes[0].proc.child.pid as number)).toBe(true);
    expect(sha256(await readAll(cluster.sdk, 'flood/file.bin'))).toBe(sha256(content));
  });
});

describe('slow peers', () => {
  let cluster: TestCluster;

  beforeAll(async () => {
    cluster = await TestCluster.start({
      nodes: 1,
      replicas: 1,
      controllerFlags: ['--idle-timeout', '2s'],
      nodeFlags: { 0: ['--idle-timeout', '2s'] },
    });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  /**
   * Opens a raw TCP connection, completes the WebSocket upgrade, then sends a (masked, client) frame
   * one byte every `intervalMs`; resolves with how long the process let it live, and how many bytes went.
   */
  function trickleFrame(port: number, intervalMs: number, giveUpMs: number): Promise<{ closedAfterMs: number | undefined; sent: number }> {
    return new Promise((resolve, reject) => {
      const socket: Socket = tcpConnect({ host: '127.0.0.1', port });
      const frame = maskedBinaryFrame(encodeControl('file.list', 1, { prefix: 'slow/'.repeat(18), limit: 1 })); // ~30 s at this pace
      let upgradedAt = 0;
      let sent = 0;
      let timer: NodeJS.Timeout | undefined;
      let head = '';
      const finish = (closedAfterMs: number | undefined) => {
        if (timer) clearInterval(timer);
        clearTimeout(giveUp);
        socket.destroy();
        resolve({ closedAfterMs, sent });
      };
      const giveUp = setTimeout(() => finish(undefined), giveUpMs);
      socket.on('error', () => undefined);
      socket.on('close', () => finish(upgradedAt ? Date.now() - upgradedAt : 0));
      socket.on('data', (d: Buffer) => {
        if (upgradedAt) return;
        head += d.toString('latin1');
        if (!head.includes('\r\n\r\n')) return;
        if (!head.startsWith('HTTP/1.1 101')) return reject(new Error(`upgrade refused: ${head.split('\r\n')[0]}`));
        upgradedAt = Date.now();
        timer = setInterval(() => {
          if (sent < frame.length - 1) socket.write(frame.subarray(sent, ++sent)); // never the last byte
        }, intervalMs);
      });
      socket.on('connect', () => {
        socket.write(
          `GET /ws HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
        );
      });
    });
  }

  it('slow-loris: a WebSocket trickling a frame one byte every 300 ms is closed within a few seconds (controller and node)', async () => {
    const client = cluster.client();
    const [controller, node] = await Promise.all([
      trickleFrame(cluster.controllerPort, 300, 10_000),
      trickleFrame(cluster.nodes[0].port, 300, 10_000),
      (async () => {
        // Meanwhile a client that talks normally is served (and kept: it completes frames).
        for (let i = 0; i < 6; i++) {
          await client.put(`slow/ok-${i}.bin`, randomBytes(10_000));
          await new Promise((r) => setTimeout(r, 300));
        }
      })(),
    ]);
    for (const [who, result] of [['controller', controller], ['node', node]] as const) {
      expect({ who, closed: result.closedAfterMs !== undefined }).toEqual({ who, closed: true });
      expect(result.closedAfterMs).toBeGreaterThanOrEqual(1_500);
      expect(result.closedAfterMs).toBeLessThan(5_000);
      expect(result.sent).toBeGreaterThan(3); // it was trickling, not refused up front
    }
    expect(await errorCode(() => client.stat('slow/missing.bin'))).toBe('E_NOT_FOUND');
  });
});

/** A client → server WebSocket binary frame (FIN, opcode 2, masked, as RFC 6455 requires of clients). */
function maskedBinaryFrame(payload: Buffer): Buffer {
  if (payload.length >= 126) throw new Error('keep the trickled frame small');
  const mask = randomBytes(4);
  const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]));
  return Buffer.concat([Buffer.from([0x82, 0x80 | payload.length]), mask, masked]);
}
