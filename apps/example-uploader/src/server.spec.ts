import { Server, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import pino from 'pino';
import { CairnError, FileInfo, validateName } from '@cairn/protocol';
import { FileStore, createUploaderHandler, decodeName, encodeName } from './server';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** One HTTP exchange with node:http (it sends the path exactly as given, `..` and `%2F` included). */
function call(port: number, method: string, path: string, body?: Buffer | Readable): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (part: Buffer) => parts.push(part));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body instanceof Readable) body.pipe(req);
    else req.end(body);
  });
}

const json = (answer: Answer) => JSON.parse(answer.body.toString('utf8'));

/** An in-memory stand-in for CairnClient with the same name rules and error codes. */
class FakeStore {
  readonly files = new Map<string, Buffer>();
  /** Bytes the current put has pulled from its source so far. */
  pulled = 0;
  onPull: ((pulled: number) => void) | undefined;
  failPutAfterFirstPart: CairnError | undefined;
  failPutBeforeReading: CairnError | undefined;
  private nextId = 1;

  async put(name: string, source: AsyncIterable<Uint8Array>): Promise<FileInfo> {
    validateName(name);
    const parts: Buffer[] = [];
    this.pulled = 0;
    try {
      if (this.failPutBeforeReading) throw this.failPutBeforeReading; // e.g. refused by the controller
      for await (const part of source) {
        parts.push(Buffer.from(part));
        this.pulled += part.length;
        this.onPull?.(this.pulled);
        if (this.failPutAfterFirstPart) throw this.failPutAfterFirstPart;
      }
    } finally {
      if (source instanceof Readable) source.destroy(); // as CairnClient.put does
    }
    this.files.set(name, Buffer.concat(parts));
    return this.info(name);
  }

  get(name: string): Readable {
    const data = this.files.get(name);
    return Readable.from(
      (async function* () {
        if (!data) throw new CairnError('E_NOT_FOUND', `no file named ${name}`);
        for (let at = 0; at < data.length; at += 64 * 1024) yield data.subarray(at, at + 64 * 1024);
      })(),
    );
  }

  async stat(name: string): Promise<FileInfo> {
    validateName(name);
    return this.info(name);
  }

  async *ls(prefix = ''): AsyncGenerator<FileInfo> {
    for (const name of [...this.files.keys()].sort()) if (name.startsWith(prefix)) yield this.info(name);
  }

  async rm(name: string): Promise<FileInfo> {
    const info = this.info(validateName(name));
    this.files.delete(name);
    return info;
  }

  private info(name: string): FileInfo {
    const data = this.files.get(name);
    if (!data) throw new CairnError('E_NOT_FOUND', `no file named ${name}`);
    const sha256 = createHash('sha256').update(data).digest('hex');
    return { id: this.nextId++, name, size: data.length, sha256, replicas: 2, chunkCount: Math.ceil(data.length / 1048576), createdAt: 1, updatedAt: 1 } as FileInfo;
  }
}

describe('the uploader HTTP API', () => {
  let store: FakeStore;
  let server: Server;
  let port: number;

  beforeEach(async () => {
    store = new FakeStore();
    server = createServer(createUploaderHandler(store as unknown as FileStore, pino({ level: 'silent' })));
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
      store.put = (name, source) => put(name, source).catch((err: unknown) => (resolve(err), Promise.reject(err)));
    });
    const req = request({ host: '127.0.0.1', port, method: 'PUT', path: '/files/cut.bin', agent: false });
    req.on('error', () => undefined);
    req.write(Buffer.alloc(128 * 1024, 3));
    await firstPartArrived;
    req.destroy();
    await putFailed;
    expect(store.files.has('cut.bin')).toBe(false);
    expect((await call(port, 'GET', '/healthz')).status).toBe(200);
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
