import { request as httpRequest, IncomingMessage, Server, ServerResponse } from 'node:http';
import { request as httpsRequest, Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { CairnError } from '@cairn/protocol';
import { connectPeer } from './connect';
import { createProcessServer, HEADERS_TIMEOUT_MS, REQUEST_TIMEOUT_MS, TlsFiles } from './process-server';
import { attachRpcServer } from './rpc-server';
import { expectFrame } from './rpc-peer';
import { makeSelfSignedCert, type SelfSignedCert } from './testing/self-signed-cert';

const cleanups: Array<() => unknown> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const handler = (req: IncomingMessage, res: ServerResponse) => {
  res.writeHead(req.url === '/healthz' ? 200 : 404, { 'content-type': 'text/plain' });
  res.end(req.url === '/healthz' ? 'ok' : 'not found');
};

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return (server.address() as AddressInfo).port;
}

/** One GET; resolves with status and body, rejects with the client's error (TLS refusals among them). */
function get(url: string, options: { ca?: Buffer } = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = (url.startsWith('https:') ? httpsRequest : httpRequest)(url, { ...options, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    request.on('error', reject);
    request.setTimeout(5_000, () => request.destroy(new Error('timed out')));
    request.end();
  });
}

describe('createProcessServer without TLS', () => {
  it('is a plain HTTP server with header and request timeouts against slow peers', async () => {
    const server = createProcessServer(handler);

    expect(server).toBeInstanceOf(Server);
    expect(server).not.toBeInstanceOf(HttpsServer);
    expect(server.headersTimeout).toBe(HEADERS_TIMEOUT_MS);
    expect(server.requestTimeout).toBe(REQUEST_TIMEOUT_MS);
    expect(HEADERS_TIMEOUT_MS).toBeGreaterThan(0);
    expect(HEADERS_TIMEOUT_MS).toBeLessThanOrEqual(REQUEST_TIMEOUT_MS);

    const port = await listen(server);
    expect(await get(`http://127.0.0.1:${port}/healthz`)).toEqual({ status: 200, body: 'ok' });
  });
});

describe('createProcessServer with TLS', () => {
  let made: SelfSignedCert;
  let dir: string;
  let tls: TlsFiles;
  let ca: Buffer;

  beforeAll(async () => {
    made = await makeSelfSignedCert();
    ({ ca } = made);
    tls = { cert: made.cert, key: made.key };
    dir = dirname(made.cert);
  });

  afterAll(async () => {
    await made?.remove();
  });

  it('is an HTTPS server with the same timeouts', () => {
    const server = createProcessServer(handler, tls);

    expect(server).toBeInstanceOf(HttpsServer);
    expect(server.headersTimeout).toBe(HEADERS_TIMEOUT_MS);
    expect(server.requestTimeout).toBe(REQUEST_TIMEOUT_MS);
  });

  it('serves https to a client that trusts the certificate, and not to one that does not', async () => {
    const port = await listen(createProcessServer(handler, tls));

    expect(await get(`https://127.0.0.1:${port}/healthz`, { ca })).toEqual({ status: 200, body: 'ok' });

    // (Errors from Node's own modules come from another realm than Jest's Error: compare by code.)
    const refused = await get(`https://127.0.0.1:${port}/healthz`).then(
      () => 'served',
      (err: NodeJS.ErrnoException) => err.code,
    );
    expect(refused).toMatch(/SELF_SIGNED|UNABLE_TO_VERIFY|CERT/);
  });

  it('does not answer plain http on its port', async () => {
    const port = await listen(createProcessServer(handler, tls));

    const outcome = await get(`http://127.0.0.1:${port}/healthz`).then(
      (res) => res.status,
      (err: NodeJS.ErrnoException) => err.code ?? err.message,
    );

    // Either the connection fails or the stray bytes get a 400; never the page itself.
    expect(outcome === 400 || (typeof outcome === 'string' && outcome.length > 0)).toBe(true);
    expect(outcome).not.toBe(200);
  });

  it('carries the protocol over wss:// for a client given the CA, and refuses one without it', async () => {
    const server = createProcessServer(handler, tls);
    const rpc = attachRpcServer(server, { onRequest: () => ({ type: 'nodes.info', body: { nodes: [] } }) });
    cleanups.push(() => rpc.close());
    const port = await listen(server);

    const peer = await connectPeer(`wss://127.0.0.1:${port}`, { ca });
    cleanups.push(() => peer.close());
    expect(expectFrame(await peer.request('nodes.list', {}), 'nodes.info').body.nodes).toEqual([]);

    const refused = await connectPeer(`wss://127.0.0.1:${port}`).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(CairnError);
    expect((refused as CairnError).code).toBe('E_UNAVAILABLE');
  });

  it('fails with E_USAGE when the certificate or key cannot be read', () => {
    for (const files of [
      { cert: join(dir, 'missing.pem'), key: tls.key },
      { cert: tls.cert, key: join(dir, 'missing.pem') },
    ]) {
      let err: unknown;
      try {
        createProcessServer(handler, files);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(CairnError);
      expect((err as CairnError).code).toBe('E_USAGE');
    }
  });
});
