import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { DEFAULT_CHUNK_SIZE } from '@cairn/protocol';
import { TestCluster } from './support/test-cluster';
import { Spawned, WORKSPACE, spawnProcess, waitForLog } from './support/processes';
import { sha256 } from './support/files';

/** The example app (apps/example-uploader): an HTTP service that embeds CairnClient. */
const UPLOADER = join(WORKSPACE, 'apps/example-uploader/dist/main.js');

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

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

/** Yields `data` in 64 KiB pieces, so the request goes out chunked, without a content-length. */
function pieces(data: Buffer): Readable {
  return Readable.from(
    (function* () {
      for (let at = 0; at < data.length; at += 64 * 1024) yield data.subarray(at, at + 64 * 1024);
    })(),
  );
}

async function startUploader(controller: string, token: string, ...flags: string[]): Promise<{ proc: Spawned; port: number }> {
  // The app's CairnClient reads CAIRN_TOKEN by itself, as any embedding app's would.
  const proc = spawnProcess(UPLOADER, ['--port', '0', '--controller', controller, ...flags], { CAIRN_TOKEN: token });
  const ready = await waitForLog(proc, (e) => e['msg'] === 'example-uploader listening');
  return { proc, port: ready['port'] as number };
}

/**
 * A PUT whose body the test writes, begun with a chunk and a bit (the SDK reads a whole chunk before it
 * begins the upload); resolves once the app logged the upload's id (at `--log-level debug`), i.e. the
 * put is under way in Cairn.
 */
async function putUnderWay(uploader: { proc: Spawned; port: number }, path: string, first: Buffer) {
  const req = request({ host: '127.0.0.1', port: uploader.port, method: 'PUT', path, agent: false });
  const answer = new Promise<Answer>((resolve, reject) => {
    req.on('response', (res) => {
      const parts: Buffer[] = [];
      res.on('data', (part: Buffer) => parts.push(part));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
  answer.catch(() => undefined); // awaited, or meant to fail, by the test
  req.write(first);
  const begun = await waitForLog(uploader.proc, (e) => e['msg'] === 'upload begun' && e['url'] === path, 60_000);
  return { req, answer, uploadId: begun['uploadId'] as string };
}

async function stopUploader(proc: Spawned): Promise<void> {
  if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  proc.child.kill('SIGTERM');
  await proc.exited;
}

describe('example-uploader against a real cluster', () => {
  let cluster: TestCluster;
  let uploader: Spawned;
  let port: number;

  beforeAll(async () => {
    cluster = await TestCluster.start({ nodes: 3 });
    ({ proc: uploader, port } = await startUploader(cluster.controllerAddress, cluster.adminToken));
  });

  afterAll(async () => {
    if (uploader) await stopUploader(uploader);
    await cluster?.stop();
  });

  const data = randomBytes(2 * DEFAULT_CHUNK_SIZE + 12_345); // three chunks, the last one short
  const name = 'uploads/2026/three-chunks.bin';

  it('PUT streams a three-chunk body into Cairn and answers 201 with the FileInfo', async () => {
    const put = await call(port, 'PUT', `/files/${name}`, pieces(data));
    expect(put.status).toBe(201);
    expect(json(put)).toMatchObject({ name, size: data.length, sha256: sha256(data), chunkCount: 3, replicas: 2 });
    // It really is in Cairn: the SDK sees it, replicated on distinct nodes.
    const stat = await cluster.sdk.stat(name);
    expect(stat.sha256).toBe(sha256(data));
    for (const chunk of stat.chunks) expect(new Set(chunk.nodes).size).toBe(2);
  });

  it('GET streams it back bit-exact, with content-length', async () => {
    const got = await call(port, 'GET', `/files/${name}`);
    expect(got.status).toBe(200);
    expect(got.headers['content-length']).toBe(String(data.length));
    expect(got.headers['etag']).toBe(`"${sha256(data)}"`);
    expect(got.body.length).toBe(data.length);
    expect(got.body.equals(data)).toBe(true);
  });

  it('lists by prefix', async () => {
    // Concurrent requests share the app's one CairnClient.
    const [small, other] = await Promise.all([
      call(port, 'PUT', '/files/uploads/2026/note%20%C3%A9t%C3%A9.txt', Buffer.from('hello')),
      call(port, 'PUT', '/files/elsewhere.txt', Buffer.from('other')),
    ]);
    expect([small.status, other.status]).toEqual([201, 201]);
    expect(json(small).name).toBe('uploads/2026/note été.txt');
    const listed = await call(port, 'GET', '/files?prefix=uploads%2F');
    expect(listed.status).toBe(200);
    expect(json(listed).map((f: { name: string; size: number }) => [f.name, f.size])).toEqual([
      ['uploads/2026/note été.txt', 5],
      [name, data.length],
    ]);
    expect(json(await call(port, 'GET', '/files')).length).toBe(3);
  });

  it('DELETE removes it, and a GET after is 404 with a JSON error', async () => {
    const removed = await call(port, 'DELETE', `/files/${name}`);
    expect(removed.status).toBe(200);
    expect(json(removed)).toMatchObject({ name, size: data.length });
    const after = await call(port, 'GET', `/files/${name}`);
    expect(after.status).toBe(404);
    expect(after.headers['content-type']).toMatch(/^application\/json/);
    expect(json(after)).toEqual({ code: 'E_NOT_FOUND', message: expect.any(String) });
    expect((await call(port, 'DELETE', `/files/${name}`)).status).toBe(404);
  });

  it('refuses a bad name with 400 and a JSON {code, message}, never a stack trace', async () => {
    for (const path of ['/files/a/../b', '/files/a%2F..%2Fb', '/files/a//b', '/files/a%00b']) {
      const answer = await call(port, 'PUT', path, Buffer.from('data'));
      expect(answer.status).toBe(400);
      const body = json(answer);
      expect(Object.keys(body).sort()).toEqual(['code', 'message']);
      expect(body.code).toBe('E_NAME_INVALID');
      expect(answer.body.toString()).not.toMatch(/\bat .*\.[jt]s:\d+/);
    }
    expect((await cluster.sdk.stat('a/../b').catch((err) => err)).code).toBe('E_NAME_INVALID');
  });

  it('answers 401 for a token the cluster does not know, and 403 for a put with a read-only token', async () => {
    const stranger = await startUploader(cluster.controllerAddress, 'not-a-real-token');
    const reader = await startUploader(cluster.controllerAddress, (await cluster.sdk.createToken('read')).token);
    try {
      const denied = await call(stranger.port, 'GET', '/files');
      expect(denied.status).toBe(401);
      expect(json(denied).code).toBe('E_AUTH');
      const forbidden = await call(reader.port, 'PUT', '/files/uploads/not-yours.txt', Buffer.from('nope'));
      expect(forbidden.status).toBe(403);
      expect(json(forbidden).code).toBe('E_FORBIDDEN');
      expect((await call(reader.port, 'GET', '/files?prefix=uploads%2F')).status).toBe(200);
    } finally {
      await Promise.all([stopUploader(stranger.proc), stopUploader(reader.proc)]);
    }
  });

  it('logs a client that disconnected mid-PUT as such, not as a 200, and commits nothing', async () => {
    const debug = await startUploader(cluster.controllerAddress, cluster.adminToken, '--log-level', 'debug');
    try {
      const path = '/files/uploads/abandoned.bin';
      const put = await putUnderWay(debug, path, randomBytes(DEFAULT_CHUNK_SIZE + 1));
      put.req.destroy(); // the client goes away half-way through its body
      const access = await waitForLog(debug.proc, (e) => e['msg'] === 'request' && e['url'] === path, 60_000);
      expect(access).toMatchObject({ method: 'PUT', completed: false, aborted: 'client disconnected', code: 'E_ABORTED', uploadId: put.uploadId });
      expect(access['status']).toBeUndefined(); // no status line was ever sent
      expect((await cluster.sdk.stat('uploads/abandoned.bin').catch((err) => err)).code).toBe('E_NOT_FOUND');
    } finally {
      await stopUploader(debug.proc);
    }
  });

  it('on SIGTERM, lets an upload in flight complete and commit, then exits 0', async () => {
    const draining = await startUploader(cluster.controllerAddress, cluster.adminToken, '--log-level', 'debug');
    const path = '/files/uploads/during-shutdown.bin';
    const whole = randomBytes(DEFAULT_CHUNK_SIZE + 300_000);
    const put = await putUnderWay(draining, path, whole.subarray(0, DEFAULT_CHUNK_SIZE + 1));

    draining.proc.child.kill('SIGTERM');
    expect(await waitForLog(draining.proc, (e) => e['msg'] === 'shutting down')).toMatchObject({ signal: 'SIGTERM', inFlight: 1 });
    // No new connection is taken while the upload drains (one the kernel had queued as the listener
    // closed is reset rather than refused)...
    await expect(call(draining.port, 'GET', '/healthz')).rejects.toMatchObject({ code: expect.stringMatching(/^(ECONNREFUSED|ECONNRESET)$/) });
    // ...but the one in flight sends the rest of its body and is answered.
    const accessLogged = waitForLog(draining.proc, (e) => e['msg'] === 'request' && e['url'] === path, 60_000);
    put.req.end(whole.subarray(DEFAULT_CHUNK_SIZE + 1));
    const answer = await put.answer;
    expect(answer.status).toBe(201);
    expect(json(answer)).toMatchObject({ name: 'uploads/during-shutdown.bin', size: whole.length, sha256: sha256(whole) });
    expect((await cluster.sdk.stat('uploads/during-shutdown.bin')).sha256).toBe(sha256(whole));

    expect(await accessLogged).toMatchObject({ status: 201, completed: true, uploadId: put.uploadId });
    expect(await draining.proc.exited).toEqual({ code: 0, signal: null });
  });

  it('on SIGTERM, aborts an upload still running at the drain deadline: 503, nothing committed, exit 0', async () => {
    const draining = await startUploader(cluster.controllerAddress, cluster.adminToken, '--log-level', 'debug', '--drain-timeout', '200ms');
    const path = '/files/uploads/never-finished.bin';
    const put = await putUnderWay(draining, path, randomBytes(DEFAULT_CHUNK_SIZE + 1)); // the rest never comes
    draining.proc.child.kill('SIGTERM');
    const answer = await put.answer;
    expect(answer.status).toBe(503);
    expect(json(answer).code).toBe('E_UNAVAILABLE');
    expect(await waitForLog(draining.proc, (e) => e['msg'] === 'request' && e['url'] === path)).toMatchObject({ status: 503, aborted: 'drain deadline' });
    expect(await draining.proc.exited).toEqual({ code: 0, signal: null });
    expect((await cluster.sdk.stat('uploads/never-finished.bin').catch((err) => err)).code).toBe('E_NOT_FOUND');
  });

  it('stops at once on a second signal during the drain', async () => {
    const draining = await startUploader(cluster.controllerAddress, cluster.adminToken, '--log-level', 'debug');
    const put = await putUnderWay(draining, '/files/uploads/interrupted.bin', randomBytes(DEFAULT_CHUNK_SIZE + 1));
    draining.proc.child.kill('SIGTERM');
    await waitForLog(draining.proc, (e) => e['msg'] === 'shutting down');
    draining.proc.child.kill('SIGINT');
    expect(await draining.proc.exited).toEqual({ code: 1, signal: null });
    await expect(put.answer).rejects.toThrow();
    expect((await cluster.sdk.stat('uploads/interrupted.bin').catch((err) => err)).code).toBe('E_NOT_FOUND');
  });

  it('answers 503 while the controller is down, logs it as one line without a stack, and keeps running', async () => {
    await cluster.killController();
    const answer = await call(port, 'GET', '/files');
    expect(answer.status).toBe(503);
    expect(json(answer).code).toBe('E_UNAVAILABLE');
    expect(uploader.child.exitCode).toBeNull();
    // An expected operational error: its code and message, on one line, with no stack trace.
    const failed = await waitForLog(uploader, (e) => e['msg'] === 'request failed' && e['url'] === '/files' && e['code'] === 'E_UNAVAILABLE');
    expect(failed).toMatchObject({ level: 40, message: expect.any(String) });
    expect(failed['err']).toBeUndefined();
    expect(uploader.lines.filter((line) => /"stack"|\\n\s+at /.test(line))).toEqual([]);
  });

  it('stops cleanly on SIGTERM', async () => {
    uploader.child.kill('SIGTERM');
    expect(await uploader.exited).toEqual({ code: 0, signal: null });
  });
});
