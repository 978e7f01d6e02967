import { IncomingMessage, Server, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createHttpHandler } from '@cairn/transfer';
import type { FileRecord } from '@cairn/registry';
import { Dashboard, DashboardSources, FileSummary, Overview, OverviewStream, controllerSources, createDashboard } from './index';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function call(port: number, path: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers, agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (part: Buffer) => parts.push(part));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Opens an event stream and collects `count` events (then disconnects). */
function readEvents(port: number, count: number, headers: Record<string, string> = {}): Promise<{ headers: Answer['headers']; events: Array<{ event: string; data: string }> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/api/events', headers, agent: false }, (res) => {
      let buffer = '';
      const events: Array<{ event: string; data: string }> = [];
      res.setEncoding('utf8');
      res.on('data', (text: string) => {
        buffer += text;
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const fields = Object.fromEntries(block.split('\n').map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 2)]));
          if (fields['data'] !== undefined) events.push({ event: fields['event'], data: fields['data'] });
        }
        if (events.length >= count) {
          req.destroy();
          resolve({ headers: res.headers, events });
        }
      });
      res.on('error', () => undefined);
      res.on('end', () => resolve({ headers: res.headers, events }));
    });
    req.on('error', (err) => (err.message === 'socket hang up' ? undefined : reject(err)));
    req.end();
  });
}

const overview = (n: number): Overview => ({
  time: 1_700_000_000_000 + n,
  status: {
    nodes: { alive: 2, suspect: 0, dead: 1, draining: 0 },
    files: 3,
    bytes: 3000,
    chunks: 3,
    underReplicated: 1,
    lost: 0,
    repair: { queued: 1, running: 1, copiedChunks: n, copiedBytes: n * 1024 },
    gc: { pendingChunks: 0, deletedChunks: 0 },
  },
  nodes: [{ id: 'n1', address: '127.0.0.1:7701', zone: null, state: 'alive', capacity: 100, used: 10, chunks: 1, lastSeen: 1 }],
});

const file = (name: string, updatedAt = 1): FileSummary => ({ name, size: 10, sha256: 'a'.repeat(64), replicas: 2, chunkCount: 1, createdAt: 1, updatedAt });

describe('dashboard routes', () => {
  let server: Server;
  let port: number;
  let dashboard: Dashboard;
  let allowed: boolean;
  const authorized: IncomingMessage[] = [];
  const listCalls: Array<[string, string | undefined, number]> = [];
  let overviews = 0;
  const names = ['a/1', 'a/2', 'a/3', 'b/<img src=x onerror=alert(1)>'];

  const sources: DashboardSources = {
    overview: async () => overview(++overviews),
    listFiles: async (prefix, after, limit) => {
      listCalls.push([prefix, after, limit]);
      return names.filter((n) => n.startsWith(prefix) && (after === undefined || n > after)).slice(0, limit).map((n) => file(n));
    },
  };

  beforeEach(async () => {
    allowed = true;
    authorized.length = 0;
    listCalls.length = 0;
    overviews = 0;
    dashboard = createDashboard({
      sources,
      authorize: (req) => {
        authorized.push(req);
        return allowed;
      },
      staticDir: join(__dirname, 'public'),
      eventIntervalMs: 20,
    });
    server = createServer(createHttpHandler({ isReady: () => true, routes: dashboard.routes }));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterEach(async () => {
    dashboard.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  describe('the page', () => {
    it('serves index.html at / with a strict content security policy', async () => {
      const page = await call(port, '/');
      expect(page.status).toBe(200);
      expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(page.body).toContain('<script src="app.js" defer></script>');
      const csp = String(page.headers['content-security-policy']);
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("connect-src 'self'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(page.headers['x-content-type-options']).toBe('nosniff');
    });

    it('serves its script and style with their types, and nothing from elsewhere', async () => {
      const script = await call(port, '/app.js');
      expect(script.status).toBe(200);
      expect(script.headers['content-type']).toBe('text/javascript; charset=utf-8');
      expect(script.body).not.toContain('EventSource('); // it cannot send the token
      expect(script.body).not.toMatch(/\.innerHTML\s*=/); // file names are data, never markup
      const style = await call(port, '/style.css');
      expect(style.status).toBe(200);
      expect(style.headers['content-type']).toBe('text/css; charset=utf-8');
      const page = await call(port, '/');
      expect(page.body).not.toMatch(/(src|href)="(https?:)?\/\//);
      // The policy allows no inline code or style: none may be written into the page (it would not run).
      expect(page.body).not.toMatch(/\sstyle=|<style|<script(?![^>]*\ssrc=)|\son[a-z]+=/i);
    });

    it('is public: it holds no data, so it is served without asking the authorizer', async () => {
      allowed = false;
      expect((await call(port, '/')).status).toBe(200);
      expect((await call(port, '/app.js')).status).toBe(200);
      expect(authorized).toHaveLength(0);
    });

    it('answers 500 when the assets are missing (a build without them), and keeps serving', async () => {
      const broken = createDashboard({ sources, authorize: () => true, staticDir: join(__dirname, 'no-such-dir') });
      const other = createServer(createHttpHandler({ isReady: () => true, routes: broken.routes }));
      await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
      try {
        const otherPort = (other.address() as AddressInfo).port;
        expect((await call(otherPort, '/')).status).toBe(500);
        expect((await call(otherPort, '/healthz')).status).toBe(200);
      } finally {
        broken.close();
        await new Promise<void>((resolve) => other.close(() => resolve()));
      }
    });
  });

  describe('the API', () => {
    it('/api/overview gives the overview as JSON', async () => {
      const answer = await call(port, '/api/overview');
      expect(answer.status).toBe(200);
      expect(answer.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(JSON.parse(answer.body)).toEqual(overview(1));
    });

    it('asks the authorizer with the request, and refuses with 401 without computing anything', async () => {
      allowed = false;
      for (const path of ['/api/overview', '/api/files', '/api/events']) {
        const answer = await call(port, path, { authorization: 'Bearer nope' });
        expect(answer.status).toBe(401);
        expect(answer.headers['www-authenticate']).toBe('Bearer');
        expect(JSON.parse(answer.body).error.code).toBe('E_AUTH');
      }
      expect(authorized.map((r) => r.headers.authorization)).toEqual(['Bearer nope', 'Bearer nope', 'Bearer nope']);
      expect(overviews).toBe(0);
      expect(listCalls).toHaveLength(0);
    });

    it('/api/files lists by prefix, hands back names untouched, and gives `next` only when more files follow', async () => {
      const all = JSON.parse((await call(port, '/api/files')).body);
      expect(all.files.map((f: FileSummary) => f.name)).toEqual(names);
      expect(all).toHaveProperty('next', null); // present, and null: this is the last page
      expect(listCalls.at(-1)).toEqual(['', undefined, 101]); // one more than the page, to know whether more follow

      const page = JSON.parse((await call(port, `/api/files?prefix=${encodeURIComponent('a/')}&limit=2`)).body);
      expect(page).toEqual({ files: [file('a/1'), file('a/2')], next: 'a/2' });
      const rest = JSON.parse((await call(port, `/api/files?prefix=a%2F&limit=2&after=${encodeURIComponent(page.next)}`)).body);
      expect(rest).toEqual({ files: [file('a/3')], next: null });
      expect(listCalls.at(-1)).toEqual(['a/', 'a/2', 3]);

      const odd = JSON.parse((await call(port, `/api/files?prefix=${encodeURIComponent('b/<img')}`)).body);
      expect(odd.files[0].name).toBe('b/<img src=x onerror=alert(1)>');
    });

    it('/api/files gives no `next` when exactly `limit` files remain: no empty page to fetch', async () => {
      const page = JSON.parse((await call(port, `/api/files?prefix=${encodeURIComponent('a/')}&limit=3`)).body);
      expect(page).toEqual({ files: [file('a/1'), file('a/2'), file('a/3')], next: null });
      const whole = JSON.parse((await call(port, `/api/files?limit=${names.length}`)).body);
      expect(whole.files).toHaveLength(names.length);
      expect(whole.next).toBeNull();
      const short = JSON.parse((await call(port, `/api/files?limit=${names.length - 1}`)).body);
      expect(short.next).toBe(names[names.length - 2]);
    });

    it('/api/files takes limit from 1 to 1000 in plain decimal digits', async () => {
      for (const [limit, asked] of [['1', 2], ['9', 10], ['10', 11], ['1000', 1001]] as const) {
        const answer = await call(port, `/api/files?limit=${limit}`);
        expect(answer.status).toBe(200);
        expect(listCalls.at(-1)?.[2]).toBe(asked);
      }
      expect(JSON.parse((await call(port, '/api/files?limit=')).body).files).toHaveLength(names.length); // empty: the default
      expect(listCalls.at(-1)?.[2]).toBe(101);
    });

    it('/api/files refuses a bad limit or prefix with 400 E_BAD_MESSAGE', async () => {
      const badLimits = ['0', '1001', '9999', '10000', 'abc', '1.5', '1e2', '0x10', '+5', '-5', ' 1', '1 ', '010', '00', '1_000', '１', 'Infinity', 'NaN'];
      for (const query of [...badLimits.map((l) => `limit=${encodeURIComponent(l)}`), 'prefix=%00', `prefix=${'x'.repeat(1025)}`]) {
        const answer = await call(port, `/api/files?${query}`);
        expect({ query, status: answer.status }).toEqual({ query, status: 400 });
        expect(JSON.parse(answer.body).error.code).toBe('E_BAD_MESSAGE');
      }
      expect(JSON.parse((await call(port, '/api/files?limit=1e2')).body).error.message).toMatch(/limit must be a whole number from 1 to 1000/);
      expect(listCalls).toHaveLength(0);
    });

    it('/api/events streams the overview as Server-Sent Events: one at once, then one per interval', async () => {
      const { headers, events } = await readEvents(port, 3);
      expect(headers['content-type']).toBe('text/event-stream; charset=utf-8');
      expect(headers['cache-control']).toBe('no-store');
      expect(events).toHaveLength(3);
      for (const e of events) expect(e.event).toBe('overview');
      const times = events.map((e) => (JSON.parse(e.data) as Overview).time);
      expect(times[1]).toBeGreaterThan(times[0]);
      expect(times[2]).toBeGreaterThan(times[1]);
    });
  });
});

describe('OverviewStream', () => {
  it('runs its timer only while a stream is open, and computes one overview per tick for all streams', async () => {
    let computed = 0;
    const stream = new OverviewStream({ overview: async () => overview(++computed), intervalMs: 20 });
    const server = createServer((_req, res) => void stream.open(res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      const [a, b] = await Promise.all([readEvents(port, 4), readEvents(port, 4)]);
      expect(a.events).toHaveLength(4);
      expect(b.events).toHaveLength(4);
      // Two first events (one per stream) plus shared ticks: well under one overview per event.
      expect(computed).toBeLessThan(8);
      await new Promise((r) => setTimeout(r, 50));
      expect(stream.size).toBe(0);
      const after = computed;
      await new Promise((r) => setTimeout(r, 100));
      expect(computed).toBe(after); // no stream, no work
    } finally {
      stream.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe('controllerSources', () => {
  it('builds the overview from the cluster status sources and lists files without their internal ids and manifest hashes', async () => {
    const record: FileRecord = { id: 42, manifestSha256: 'b'.repeat(64), ...file('x/y', 5) };
    const sources = controllerSources({
      catalog: {
        stats: async () => ({ files: 1, bytes: 10, chunks: 1 }),
        replicationHealth: async () => ({ underReplicated: 0, lost: 0 }),
        gcStats: async () => ({ pendingChunks: 0, unreferencedChunks: 0 }),
        listFiles: async () => [record],
      },
      cluster: { list: () => overview(0).nodes, healthyNodeIds: () => ['n1'] },
      healer: { counters: { queued: 0, running: 0, copiedChunks: 2, copiedBytes: 20, deletedChunks: 1, waitingForRoom: 0 } },
    });
    const now = Date.now();
    const result = await sources.overview();
    expect(result.time).toBeGreaterThanOrEqual(now);
    expect(result.nodes).toEqual(overview(0).nodes);
    expect(result.status).toMatchObject({ files: 1, nodes: { alive: 1, dead: 0 }, repair: { copiedChunks: 2 }, gc: { deletedChunks: 1 } });
    expect(await sources.listFiles('', undefined, 10)).toEqual([file('x/y', 5)]);
  });
});
