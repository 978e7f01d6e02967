import { Agent, Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { stopGracefully } from './graceful-stop';
import { InFlightRequests } from './in-flight';
import { FileStore, createUploaderHandler } from './server';
import { FakeStore } from './testing/fake-store';
import { LogLine, call, capturedLog, json, logged } from './testing/http';

describe('stopGracefully', () => {
  let store: FakeStore;
  let server: Server;
  let port: number;
  let requests: InFlightRequests;
  let lines: LogLine[];
  let log: ReturnType<typeof capturedLog>['log'];

  beforeEach(async () => {
    store = new FakeStore();
    requests = new InFlightRequests();
    ({ log, lines } = capturedLog());
    server = createServer(createUploaderHandler(store as unknown as FileStore, log, requests));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterEach(async () => {
    if (!server.listening) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  /** A PUT whose body the test pushes; resolves once the store has pulled its first part. */
  async function putInFlight(name: string): Promise<{ source: Readable; answer: ReturnType<typeof call> }> {
    const source = new Readable({ read() { /* the test pushes */ } });
    const firstPart = new Promise<void>((resolve) => (store.onPull = () => resolve()));
    const answer = call(port, 'PUT', `/files/${name}`, source);
    answer.catch(() => undefined); // awaited by the test
    source.push(Buffer.alloc(64 * 1024, 1));
    await firstPart;
    return { source, answer };
  }

  it('lets an upload in flight finish and commit, while refusing new connections', async () => {
    const { source, answer } = await putInFlight('in-flight.bin');
    const stopped = stopGracefully(server, requests, { drainMs: 60_000, log });
    let done = false;
    void stopped.then(() => (done = true));

    await expect(call(port, 'GET', '/healthz')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect(done).toBe(false); // still waiting for the upload
    source.push(Buffer.alloc(64 * 1024, 2));
    source.push(null);

    const put = await answer;
    expect(put.status).toBe(201);
    expect(put.headers['connection']).toBe('close');
    await stopped;
    expect(store.files.get('in-flight.bin')?.length).toBe(128 * 1024);
    expect(lines.find((line) => line['msg'] === 'request')).toMatchObject({ url: '/files/in-flight.bin', status: 201, completed: true });
    expect(lines.some((line) => line['aborted'] !== undefined)).toBe(false);
  });

  it('aborts an upload still running at the deadline: answered 503, nothing stored', async () => {
    const { answer } = await putInFlight('too-slow.bin'); // and its client never sends the rest
    await stopGracefully(server, requests, { drainMs: 50, log });

    const put = await answer;
    expect(put.status).toBe(503);
    expect(json(put)).toEqual({ code: 'E_UNAVAILABLE', message: 'the service stopped before this request finished' });
    expect(store.files.has('too-slow.bin')).toBe(false);
    expect(lines.find((line) => line['msg'] === 'drain time is up: aborting the requests still in flight')).toMatchObject({ aborted: 1 });
    expect(await logged(lines, (line) => line['msg'] === 'request')).toMatchObject({
      url: '/files/too-slow.bin',
      status: 503,
      completed: true,
      aborted: 'drain deadline',
      code: 'E_UNAVAILABLE',
    });
  });

  it('closes idle keep-alive connections and resolves at once with nothing in flight', async () => {
    const agent = new Agent({ keepAlive: true });
    try {
      expect((await call(port, 'GET', '/healthz', undefined, agent)).status).toBe(200);
      await stopGracefully(server, requests, { drainMs: 60_000, log });
      expect(server.listening).toBe(false);
      expect(lines.some((line) => line['msg'] === 'waiting for the requests in flight')).toBe(false);
    } finally {
      agent.destroy();
    }
  });
});
