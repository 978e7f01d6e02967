import { Server, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createProbeHandler } from './http-probes';

interface Answer {
  status: number;
  body: string;
}

function call(port: number, method: string, path: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (part: Buffer) => parts.push(part));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('createProbeHandler', () => {
  let server: Server;
  let port: number;
  let ready: boolean;

  beforeEach(async () => {
    ready = false;
    server = createServer(createProbeHandler(() => ready));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterEach(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('answers /healthz with 200 whether or not the process is ready', async () => {
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
  });

  it('answers an unknown path with 404', async () => {
    expect((await call(port, 'GET', '/nope')).status).toBe(404);
    expect((await call(port, 'GET', '/')).status).toBe(404);
  });

  it('answers other methods with 405', async () => {
    expect((await call(port, 'POST', '/healthz')).status).toBe(405);
    expect((await call(port, 'DELETE', '/readyz')).status).toBe(405);
  });
});
