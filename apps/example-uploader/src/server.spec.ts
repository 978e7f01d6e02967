import { Server, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import { CairnError, FileInfo } from '@cairn/protocol';
import { InFlightRequests } from './in-flight';
import { FileStore, createUploaderHandler, decodeName, encodeName } from './server';
import { FakeStore } from './testing/fake-store';
import { LogLine, call, capturedLog, json, logged } from './testing/http';

describe('the uploader HTTP API', () => {
  let store: FakeStore;
  let server: Server;
  let port: number;
  let requests: InFlightRequests;
  let lines: LogLine[];
  /** The access log line of the request to `url`, once it is written. */
  const accessLine = (url: string) => logged(lines, (line) => line['msg'] === 'request' && line['url'] === url);

  beforeEach(async () => {
    store = new FakeStore();
    requests = new InFlightRequests();
    const captured = capturedLog();
    lines = captured.lines;
    server = createServer(createUploaderHandler(store as unknown as FileStore, captured.log, requests));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterEach(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('stores a PUT body and answers 201 with the FileInfo', async () => {
    const body = Buffer.from('hello, cairn\n');
    const put = await call(port, 'PUT', '/files/docs/hello.txt', body);
    expect(put.status).toBe(201);
    expect(put.headers['content-type']).toMatch(/^application\/json/);
    expect(put.headers['location']).toBe('/files/docs/hello.txt');
    expect(json(put)).toMatchObject({ name: 'docs/hello.txt', size: body.length });
    expect(store.files.get('docs/hello.txt')).toEqual(body);
  });

  it('streams the body into the store while the client is still sending it', async () => {
    const source = new Readable({ read() { /* the test pushes */ } });
    const firstPartArrived = new Promise<void>((resolve) => (store.onPull = () => resolve()));
    const answer = call(port, 'PUT', '/files/big.bin', source);
    source.push(Buffer.alloc(256 * 1024, 1));
    await firstPartArrived; // the store already has bytes, and the request has not ended
    expect(store.pulled).toBeGreaterThan(0);
    expect(store.files.has('big.bin')).toBe(false);
    source.push(Buffer.alloc(256 * 1024, 2));
    source.push(null);
    expect((await answer).status).toBe(201);
    expect(store.files.get('big.bin')?.length).toBe(512 * 1024);
  });

  it('decodes percent-encoded names, keeping "/" as the separator', async () => {
    expect((await call(port, 'PUT', '/files/photos/%C3%A9t%C3%A9%20a.jpg', Buffer.from('x'))).status).toBe(201);
    expect(store.files.has('photos/été a.jpg')).toBe(true);
    const got = await call(port, 'GET', `/files/${encodeName('photos/été a.jpg')}`);
    expect(got.body.toString()).toBe('x');
  });

  it('GETs the bytes with content-length and the SHA-256 as ETag; HEAD gives only the headers', async () => {
    const data = Buffer.alloc(300 * 1024, 7);
    store.files.set('a.bin', data);
    const got = await call(port, 'GET', '/files/a.bin');
    expect(got.status).toBe(200);
    expect(got.headers['content-length']).toBe(String(data.length));
    expect(got.headers['etag']).toBe(`"${createHash('sha256').update(data).digest('hex')}"`);
    expect(got.body.equals(data)).toBe(true);
    const head = await call(port, 'HEAD', '/files/a.bin');
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe(String(data.length));
    expect(head.body.length).toBe(0);
  });

  it('lists as a JSON array, by prefix', async () => {
    for (const name of ['a/1', 'a/2', 'b/1']) store.files.set(name, Buffer.from(name));
    expect(json(await call(port, 'GET', '/files')).map((f: FileInfo) => f.name)).toEqual(['a/1', 'a/2', 'b/1']);
    expect(json(await call(port, 'GET', '/files?prefix=a%2F')).map((f: FileInfo) => f.name)).toEqual(['a/1', 'a/2']);
    expect(json(await call(port, 'GET', '/files/?prefix=zzz'))).toEqual([]);
  });

  it('DELETEs, then 404s', async () => {
    store.files.set('gone.txt', Buffer.from('bye'));
    const removed = await call(port, 'DELETE', '/files/gone.txt');
    expect(removed.status).toBe(200);
    expect(json(removed)).toMatchObject({ name: 'gone.txt', size: 3 });
    const after = await call(port, 'GET', '/files/gone.txt');
    expect(after.status).toBe(404);
    expect(json(after)).toEqual({ code: 'E_NOT_FOUND', message: 'no file named gone.txt' });
    expect((await call(port, 'DELETE', '/files/gone.txt')).status).toBe(404);
  });

  it.each([
    ['a traversal', '/files/a/../b'],
    ['an encoded traversal', '/files/a%2F..%2Fb'],
    ['an empty segment', '/files/a//b'],
    ['a NUL', '/files/a%00b'],
    ['broken percent-encoding', '/files/a%E9b'],
  ])('answers 400 E_NAME_INVALID for %s, as JSON without a stack', async (_what, path) => {
    for (const method of ['PUT', 'GET', 'DELETE']) {
      const answer = await call(port, method, path, method === 'PUT' ? Buffer.from('data') : undefined);
      expect(answer.status).toBe(400);
      expect(answer.headers['content-type']).toMatch(/^application\/json/);
      const body = json(answer);
      expect(body.code).toBe('E_NAME_INVALID');
      expect(Object.keys(body).sort()).toEqual(['code', 'message']);
      expect(body.message).not.toMatch(/\n\s+at /);
    }
  });

  it('answers an upload that fails half-way with the error, not a reset connection', async () => {
    store.failPutAfterFirstPart = new CairnError('E_NO_NODES', 'no storage node can take this chunk');
    const answer = await call(port, 'PUT', '/files/nowhere.bin', Readable.from([Buffer.alloc(1024 * 1024), Buffer.alloc(1024 * 1024), Buffer.alloc(1024 * 1024)]));
    expect(answer.status).toBe(503);
    expect(json(answer)).toEqual({ code: 'E_NO_NODES', message: 'no storage node can take this chunk' });
    expect(store.files.has('nowhere.bin')).toBe(false);
  });

  it('answers a put refused before its body was read with the error, not a reset connection', async () => {
    store.failPutBeforeReading = new CairnError('E_FORBIDDEN', 'put needs a write token');
    for (const body of [Buffer.from('small'), Buffer.alloc(2 * 1024 * 1024)]) {
      const answer = await call(port, 'PUT', '/files/refused.bin', body);
      expect(answer.status).toBe(403);
      expect(json(answer)).toEqual({ code: 'E_FORBIDDEN', message: 'put needs a write token' });
    }
  });

  it('stores nothing when the client goes away half-way, and keeps serving', async () => {
    const firstPartArrived = new Promise<void>((resolve) => (store.onPull = () => resolve()));
    const putFailed = new Promise<unknown>((resolve) => {
      const put = store.put.bind(store);
      store.put = (name, source, options) => put(name, source, options).catch((err: unknown) => (resolve(err), Promise.reject(err)));
    });
    const req = request({ host: '127.0.0.1', port, method: 'PUT', path: '/files/cut.bin', agent: false });
    req.on('error', () => undefined);
    req.write(Buffer.alloc(128 * 1024, 3));
    await firstPartArrived;
    req.destroy();
    await putFailed;
    expect(store.files.has('cut.bin')).toBe(false);
    expect((await call(port, 'GET', '/healthz')).status).toBe(200);
    // The access log says no response was sent, and why; the client's leaving is no server failure.
    const access = await accessLine('/files/cut.bin');
    expect(access).toMatchObject({ method: 'PUT', completed: false, aborted: 'client disconnected', code: 'E_ABORTED' });
    expect(access).not.toHaveProperty('status');
    expect(lines.filter((line) => line['msg'] === 'request failed')).toEqual([]);
  });

  describe('the access log', () => {
    it('gives the status of a response sent in full', async () => {
      await call(port, 'PUT', '/files/logged.txt', Buffer.from('x'));
      expect(await accessLine('/files/logged.txt')).toMatchObject({ method: 'PUT', status: 201, completed: true, level: 30 });
      await call(port, 'GET', '/files/missing.txt');
      const missing = await accessLine('/files/missing.txt');
      expect(missing).toMatchObject({ status: 404, completed: true, code: 'E_NOT_FOUND' });
      expect(missing).not.toHaveProperty('aborted');
    });

    it('says a GET that failed after its first bytes was cut short, not a plain 200', async () => {
      store.files.set('big.bin', Buffer.alloc(1024 * 1024, 5));
      store.failGetAfter = { bytes: 256 * 1024, error: new CairnError('E_UNAVAILABLE', 'no replica of chunk 0 answers') };
      const received = await new Promise<{ status: number; bytes: number; whole: boolean }>((resolve) => {
        const req = request({ host: '127.0.0.1', port, method: 'GET', path: '/files/big.bin', agent: false }, (res) => {
          let bytes = 0;
          res.on('data', (part: Buffer) => (bytes += part.length));
          res.on('close', () => resolve({ status: res.statusCode ?? 0, bytes, whole: res.complete }));
        });
        req.on('error', () => undefined);
        req.end();
      });
      expect(received).toMatchObject({ status: 200, whole: false });
      expect(received.bytes).toBeLessThan(1024 * 1024);
      expect(await accessLine('/files/big.bin')).toMatchObject({ status: 200, completed: false, aborted: 'failed mid-response', code: 'E_UNAVAILABLE' });
    });

    it('logs an expected Cairn error as one line with its code and message, without a stack', async () => {
      store.stat = async () => {
        throw new CairnError('E_NO_NODES', 'no storage node is up');
      };
      expect((await call(port, 'GET', '/files/x')).status).toBe(503);
      const failed = await logged(lines, (line) => line['msg'] === 'request failed');
      expect(failed).toMatchObject({ level: 40, code: 'E_NO_NODES', message: 'no storage node is up', url: '/files/x' });
      expect(failed).not.toHaveProperty('err');
      expect(JSON.stringify(failed)).not.toMatch(/stack|\n\s+at /);
    });

    it('keeps the stack of an unexpected error', async () => {
      store.stat = async () => {
        throw new TypeError('cannot read properties of undefined');
      };
      expect((await call(port, 'GET', '/files/x')).status).toBe(500);
      const failed = await logged(lines, (line) => line['msg'] === 'request failed');
      expect(failed).toMatchObject({ level: 50, code: 'E_INTERNAL', err: { type: 'TypeError', message: 'cannot read properties of undefined' } });
      expect((failed['err'] as { stack: string }).stack).toMatch(/\n\s+at /);
    });
  });

  it('answers 503 and closes the connection once the service is stopping', async () => {
    requests.stop();
    const answer = await call(port, 'GET', '/healthz');
    expect(answer.status).toBe(503);
    expect(answer.headers['connection']).toBe('close');
    expect(json(answer)).toEqual({ code: 'E_UNAVAILABLE', message: 'the service is shutting down' });
  });

  it('answers 500 E_INTERNAL for an unexpected failure, without its message', async () => {
    store.stat = async () => {
      throw new TypeError('cannot read properties of undefined (reading "secret")');
    };
    const answer = await call(port, 'GET', '/files/x');
    expect(answer.status).toBe(500);
    expect(json(answer)).toEqual({ code: 'E_INTERNAL', message: 'internal error' });
  });

  it.each([
    ['E_AUTH', 401],
    ['E_FORBIDDEN', 403],
    ['E_UNAVAILABLE', 503],
  ] as const)('maps %s from the SDK to %i', async (code, status) => {
    store.stat = async () => {
      throw new CairnError(code, 'nope');
    };
    const answer = await call(port, 'GET', '/files/x');
    expect(answer.status).toBe(status);
    expect(json(answer)).toEqual({ code, message: 'nope' });
  });

  it('refuses a bad replicas value, other methods and unknown paths', async () => {
    const replicas = await call(port, 'PUT', '/files/x?replicas=0', Buffer.from('x'));
    expect(replicas.status).toBe(400);
    expect(json(replicas).code).toBe('E_USAGE');
    const post = await call(port, 'POST', '/files/x', Buffer.from('x'));
    expect(post.status).toBe(405);
    expect(post.headers['allow']).toBe('GET, HEAD, PUT, DELETE');
    expect((await call(port, 'PUT', '/files', Buffer.from('x'))).status).toBe(405);
    const other = await call(port, 'GET', '/elsewhere');
    expect(other.status).toBe(404);
    expect(json(other).code).toBe('E_NOT_FOUND');
    expect((await call(port, 'GET', '/healthz')).status).toBe(200);
  });
});

describe('decodeName and encodeName', () => {
  it('round-trip names with spaces, unicode and reserved characters', () => {
    for (const name of ['a.txt', 'photos/2024/a b.jpg', 'été/ü?#%.bin', 'x+y&z=1']) {
      expect(decodeName(encodeName(name))).toBe(name);
      expect(encodeName(name).split('/').length).toBe(name.split('/').length);
    }
  });

  it('refuses broken percent-encoding as E_NAME_INVALID', () => {
    expect(() => decodeName('%E9')).toThrow(expect.objectContaining({ code: 'E_NAME_INVALID' }));
  });
});
