import { IncomingMessage, Server, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CairnError } from '@cairn/protocol';
import { HttpHandlerOptions, createHttpHandler, createProbeHandler, requireAuthorized, sendText } from './http-probes';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function call(port: number, method: string, path: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (part: Buffer) => parts.push(part));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

async function listen(handler: Parameters<typeof createServer>[1] & object): Promise<{ server: Server; port: number }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

async function close(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

describe('createHttpHandler', () => {
  let server: Server;
  let port: number;
  let ready: boolean;
  const errors: unknown[] = [];
  const seen: IncomingMessage[] = [];
  /** Accepts only `Authorization: Bearer good`; `Bearer banned` is forbidden. */
  const authorize = (req: IncomingMessage) => {
    seen.push(req);
    if (req.headers.authorization === 'Bearer banned') throw new CairnError('E_FORBIDDEN', 'not for you');
    if (req.headers.authorization === 'Bearer locked') throw new CairnError('E_AUTH', 'too many failed attempts', { retryAfterMs: 41_200 });
    if (req.headers.authorization === 'Bearer refused') throw new CairnError('E_AUTH', 'no');
    return req.headers.authorization === 'Bearer good';
  };

  const routes: HttpHandlerOptions['routes'] = {
    '/hello': (_req, res, url) => sendText(res, 200, `hello ${url.searchParams.get('who') ?? 'world'}\n`),
    '/slow': async (_req, res) => {
      await new Promise((r) => setTimeout(r, 10));
      sendText(res, 200, 'late\n');
    },
    '/broken': async () => {
      throw new Error('boom');
    },
    '/secret': requireAuthorized(authorize, (_req, res) => sendText(res, 200, 'secret\n')),
    '/healthz': (_req, res) => sendText(res, 500, 'overridden\n'),
  };

  beforeEach(async () => {
    ready = false;
    errors.length = 0;
    seen.length = 0;
    ({ server, port } = await listen(createHttpHandler({ isReady: () => ready, routes, onError: (err) => errors.push(err) })));
  });

  afterEach(() => close(server));

  it('answers /healthz with 200 whether or not the process is ready, and a route cannot override it', async () => {
    expect((await call(port, 'GET', '/healthz')).status).toBe(200);
    ready = true;
    expect((await call(port, 'GET', '/healthz?verbose=1')).status).toBe(200);
  });

  it('answers /readyz with 503 until the process is ready, then 200', async () => {
    expect((await call(port, 'GET', '/readyz')).status).toBe(503);
    ready = true;
    expect((await call(port, 'GET', '/readyz')).status).toBe(200);
    ready = false;
    expect((await call(port, 'GET', '/readyz')).status).toBe(503);
  });

  it('answers HEAD like GET, without a body', async () => {
    const head = await call(port, 'HEAD', '/healthz');
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
    const route = await call(port, 'HEAD', '/hello');
    expect(route.status).toBe(200);
    expect(route.body).toBe('');
  });

  it('routes by exact path and hands the route the parsed URL', async () => {
    expect(await call(port, 'GET', '/hello?who=cairn')).toMatchObject({ status: 200, body: 'hello cairn\n' });
    expect(await call(port, 'GET', '/slow')).toMatchObject({ status: 200, body: 'late\n' });
    expect((await call(port, 'GET', '/hello/')).status).toBe(404);
  });

  it('answers an unknown path with 404', async () => {
    expect((await call(port, 'GET', '/nope')).status).toBe(404);
    expect((await call(port, 'GET', '/')).status).toBe(404);
  });

  it('takes a target starting with // as a path, not as another host, and reads an absolute-form target by its path', async () => {
    expect((await call(port, 'GET', '//hello')).status).toBe(404); // resolved, it would have been `/` of host "hello"
    expect((await call(port, 'GET', '//healthz')).status).toBe(404);
    expect(await call(port, 'GET', 'http://elsewhere.example/hello?who=proxy')).toMatchObject({ status: 200, body: 'hello proxy\n' });
  });

  it('answers other methods with 405, naming the allowed ones', async () => {
    const post = await call(port, 'POST', '/healthz');
    expect(post.status).toBe(405);
    expect(post.headers['allow']).toBe('GET, HEAD');
    expect((await call(port, 'DELETE', '/readyz')).status).toBe(405);
    expect((await call(port, 'POST', '/hello')).status).toBe(405);
  });

  it('turns a failing route into a 500 and reports the error, and keeps serving', async () => {
    expect((await call(port, 'GET', '/broken')).status).toBe(500);
    expect(errors).toHaveLength(1);
    expect((await call(port, 'GET', '/hello')).status).toBe(200);
  });

  describe('requireAuthorized', () => {
    it('runs the route only when the authorizer accepts the request', async () => {
      expect(await call(port, 'GET', '/secret', { authorization: 'Bearer good' })).toMatchObject({ status: 200, body: 'secret\n' });
      expect(seen.at(-1)?.headers.authorization).toBe('Bearer good');
    });

    it('answers 401 with a Bearer challenge and an E_AUTH body when it refuses', async () => {
      const refused: Array<Record<string, string>> = [{}, { authorization: 'Bearer wrong' }];
      for (const headers of refused) {
        const answer = await call(port, 'GET', '/secret', headers);
        expect(answer.status).toBe(401);
        expect(answer.headers['www-authenticate']).toBe('Bearer');
        expect(JSON.parse(answer.body).error.code).toBe('E_AUTH');
      }
    });

    it('answers 403 when the authorizer throws E_FORBIDDEN', async () => {
      const answer = await call(port, 'GET', '/secret', { authorization: 'Bearer banned' });
      expect(answer.status).toBe(403);
      expect(JSON.parse(answer.body).error.code).toBe('E_FORBIDDEN');
    });

    it('answers 429 with Retry-After in whole seconds when the authorizer says the address is locked out', async () => {
      const answer = await call(port, 'GET', '/secret', { authorization: 'Bearer locked' });
      expect(answer.status).toBe(429);
      expect(answer.headers['retry-after']).toBe('42');
      expect(JSON.parse(answer.body)).toEqual({ error: { code: 'E_AUTH', message: 'too many failed attempts' } });
      expect((await call(port, 'GET', '/secret', { authorization: 'Bearer refused' })).status).toBe(401); // E_AUTH without a wait
    });

    it('never guards the probes', async () => {
      expect((await call(port, 'GET', '/healthz')).status).toBe(200);
      expect(seen).toHaveLength(0);
    });
  });
});

describe('createProbeHandler', () => {
  it('serves the probes alone', async () => {
    const { server, port } = await listen(createProbeHandler(() => true));
    try {
      expect((await call(port, 'GET', '/healthz')).status).toBe(200);
      expect((await call(port, 'GET', '/readyz')).status).toBe(200);
      expect((await call(port, 'GET', '/metrics')).status).toBe(404);
    } finally {
      await close(server);
    }
  });
});
