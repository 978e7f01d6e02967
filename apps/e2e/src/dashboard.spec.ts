import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { TestCluster } from './support/test-cluster';
import { WORKSPACE } from './support/processes';

/** Debian's chromium (`.ci/run` installs it with apt-get); never a downloaded browser. */
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
/** `CAIRN_UPDATE_SCREENSHOT=1` rewrites docs/dashboard.png (normal runs leave the repo alone). */
const SCREENSHOT = join(WORKSPACE, 'docs', 'dashboard.png');
/** A file name that is also markup: the page must show it as text, never run or render it. */
const HOSTILE_NAME = 'reports/<img src=x onerror="window.__pwned=1">&amp;.txt';

/** The page's pure helpers, exposed as `window.cairnDashboard` for these tests. */
interface DashboardHelpers {
  bytes(n: number): string;
  printable(text: string): string;
  retryAfterSeconds(header: string | null, now: number): number;
  copyRate(samples: Array<{ time: number; bytes: number }>): { state: string; rate?: number; quietMs?: number };
}

/** Data panels: the totals, redundancy, nodes and files. */
const PANELS = '[data-panel]';

async function openBrowser(): Promise<{ context: BrowserContext; profile: string; page: Page }> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium; .ci/run does it) to run the dashboard test`);
  }
  const profile = await mkdtemp(join(tmpdir(), 'cairn-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 900 },
    deviceScaleFactor: 1,
  });
  return { context, profile, page: context.pages()[0] ?? (await context.newPage()) };
}

async function signIn(page: Page, token: string): Promise<void> {
  await page.fill('#token', token);
  await page.click('#login button[type=submit]');
}

async function expectText(locator: ReturnType<Page['locator']>, text: string | RegExp, timeoutMs = 5_000): Promise<void> {
  const matches = (seen: string) => (typeof text === 'string' ? seen === text : text.test(seen));
  await waitFor(async () => matches(((await locator.textContent({ timeout: 250 }).catch(() => null)) ?? '').trim()), timeoutMs, () =>
    locator.textContent({ timeout: 250 }).catch(() => null),
  );
}

async function isHidden(page: Page, selector: string): Promise<boolean> {
  return page.locator(selector).evaluate((e) => (e as unknown as { hidden: boolean }).hidden);
}

/**
 * The dashboard in a real browser against a real cluster: nodes and files appear, the token entered
 * at the login field travels as a header (never in a URL), and a node killed with SIGKILL turns dead
 * on the page live, without a reload.
 */
describe('dashboard in a real browser', () => {
  let cluster: TestCluster | undefined;
  let context: BrowserContext | undefined;
  let profile: string | undefined;
  let page: Page;
  const requests: Array<{ url: string; authorization?: string }> = [];

  beforeAll(async () => {
    // Small capacities and one zone each, so the capacity bars and zones show something.
    const flags = (zone: string) => ['--zone', zone, '--capacity', '16MiB'];
    cluster = await TestCluster.start({ nodes: 3, nodeTimeout: '2s', nodeFlags: { 0: flags('a'), 1: flags('b'), 2: flags('c') } });
    ({ context, profile, page } = await openBrowser());
    page.on('request', (request) => requests.push({ url: request.url(), authorization: request.headers()['authorization'] }));
  }, 60_000);

  afterAll(async () => {
    await context?.close().catch(() => undefined);
    if (profile) await rm(profile, { recursive: true, force: true });
    await cluster?.stop();
  });

  const nodeRow = (id: string) => page.locator(`#nodes tbody tr[data-node-id="${id}"]`);

  it('shows the nodes and files, and a killed node turns dead without a reload', async () => {
    if (!cluster) throw new Error('no cluster');
    const sdk = cluster.sdk;
    await sdk.put('photos/2024/harbour.jpg', Buffer.alloc(2_500_000, 7));
    await sdk.put('photos/2024/ridge.jpg', Buffer.alloc(700_000, 3));
    await sdk.put('notes/todo.md', Buffer.from('# todo\n- ship the dashboard\n'));
    const source = join(cluster.root, 'hostile.txt');
    await writeFile(source, 'markup in a name is still just a name\n');
    expect((await cluster.cli(['put', source, HOSTILE_NAME])).code).toBe(0);

    await page.goto(`http://127.0.0.1:${cluster.controllerPort}/`);
    // Sign in through the login field: the token lives in sessionStorage and travels as a header.
    // The harness's admin token when it has one (the controller then checks it); any string otherwise.
    const token = (cluster as unknown as { adminToken?: string }).adminToken ?? 'e2e-admin-token';
    await page.fill('#token', token);
    await page.click('#login button[type=submit]');
    await page.evaluate(() => ((globalThis as unknown as { __sameDocument: boolean }).__sameDocument = true));

    // Three alive nodes.
    for (const node of cluster.nodes) await expectText(nodeRow(node.id).locator('.state'), 'alive');
    await expectText(page.locator('#t-nodes'), '3 / 3');

    // The files, the hostile name shown as plain text.
    const names = page.locator('#files tbody td.name');
    await waitFor(async () => (await names.allTextContents()).includes(HOSTILE_NAME));
    expect(await names.allTextContents()).toEqual(expect.arrayContaining(['photos/2024/harbour.jpg', 'notes/todo.md']));
    expect(await page.locator('#files img').count()).toBe(0);
    expect(await page.evaluate(() => (globalThis as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
    await expectText(page.locator('#t-files'), '4');

    // Prefix search.
    await page.fill('#search', 'photos/');
    await waitFor(async () => (await names.allTextContents()).join('|') === 'photos/2024/ridge.jpg|photos/2024/harbour.jpg');
    await page.fill('#search', 'nothing-here/');
    await waitFor(async () => (await names.count()) === 0);
    await page.fill('#search', '');
    await waitFor(async () => (await names.count()) === 4);

    // Kill a node for real: the page follows the event stream to `dead`, in the same document.
    const victim = cluster.nodes[1];
    await cluster.killNode(1);
    await expectText(nodeRow(victim.id).locator('.state'), 'dead', 10_000);
    await expectText(page.locator('#t-nodes'), '2 / 3');
    expect(await page.evaluate(() => (globalThis as unknown as { __sameDocument?: boolean }).__sameDocument)).toBe(true);
    for (const node of [cluster.nodes[0], cluster.nodes[2]]) expect(await nodeRow(node.id).locator('.state').textContent()).toBe('alive');

    // The chunks the dead node held are repaired onto the others; the page says so when done.
    await expectText(page.locator('#h-badge'), 'fully replicated', 15_000);

    // From the sign-in on, every API call carried the token as `Authorization: Bearer` (the event
    // stream included: it is read with fetch, not EventSource); no URL ever contained it.
    const api = requests.filter((r) => new URL(r.url).pathname.startsWith('/api/'));
    const signedIn = api.findIndex((r) => r.authorization !== undefined);
    expect(signedIn).toBeGreaterThanOrEqual(0);
    for (const r of api.slice(signedIn)) expect(r.authorization).toBe(`Bearer ${token}`);
    expect(api.slice(signedIn).some((r) => new URL(r.url).pathname === '/api/events')).toBe(true);
    expect(api.slice(signedIn).some((r) => new URL(r.url).pathname === '/api/files')).toBe(true);
    for (const r of requests) expect(r.url).not.toContain(token);

    if (process.env['CAIRN_UPDATE_SCREENSHOT'] === '1') {
      await page.locator('#search').blur();
      await new Promise((r) => setTimeout(r, 600)); // let the bars' width transitions finish
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
    }
  }, 60_000);

  it('formats bytes below 1 KiB as whole numbers, and gives a copy rate only from enough samples', async () => {
    const results = await page.evaluate(() => {
      const d = (globalThis as unknown as { cairnDashboard: DashboardHelpers }).cairnDashboard;
      const at = (pairs: Array<[number, number]>) => pairs.map(([time, bytes]) => ({ time, bytes }));
      return {
        bytes: [3.1552376945729916, 53.6729109661124, 0, 1023.4, 1023.6, 1536, 1048575, 5 * 1024 ** 3].map((n) => d.bytes(n)),
        noSamples: d.copyRate([]),
        idle: d.copyRate(at([[0, 0], [1000, 0]])),
        // One second of copying says nothing reliable (the tester saw 2h10m, then 4 min).
        firstSample: d.copyRate(at([[0, 0], [1000, 5_000_000]])),
        // Idle time before the copies began does not dilute the rate: 6 MB over the 6 s of copying.
        copying: d.copyRate(at([[0, 0], [10_000, 0], [11_000, 0], [13_000, 2_000_000], [15_000, 4_000_000], [17_000, 6_000_000]])),
        // Copies stopped more than 5 s ago: no frozen rate.
        stalled: d.copyRate(at([[0, 0], [3_000, 3_000_000], [6_000, 6_000_000], [12_000, 6_000_000]])),
        retry: [d.retryAfterSeconds('60', 0), d.retryAfterSeconds(null, 0), d.retryAfterSeconds('0', 0), d.retryAfterSeconds('soon', 0), d.retryAfterSeconds(new Date(30_000).toUTCString(), 0)],
      };
    });
    expect(results.bytes).toEqual(['3 B', '54 B', '0 B', '1023 B', '1.00 KiB', '1.50 KiB', '1.00 MiB', '5.00 GiB']);
    expect(results.noSamples.state).toBe('waiting');
    expect(results.idle.state).toBe('waiting');
    expect(results.firstSample.state).toBe('measuring');
    expect(results.copying).toEqual({ state: 'copying', rate: 1_000_000 });
    expect(results.stalled).toEqual({ state: 'stalled', quietMs: 6_000 });
    expect(results.retry).toEqual([60, 10, 1, 10, 30]);
  });

  it('shows control characters in names escaped as the CLI does, as text', async () => {
    if (!cluster) throw new Error('no cluster');
    const escaped = await page.evaluate(() =>
      (globalThis as unknown as { cairnDashboard: DashboardHelpers }).cairnDashboard.printable('a\nb\tc\rd\\n\u001b[31m\u007f\u009bé'),
    );
    expect(escaped).toBe('a\\nb\\tc\\rd\\\\n\\x1b[31m\\x7f\\x9bé');

    await cluster.sdk.put('odd/line\nbreak.txt', Buffer.from('a newline in a name\n'));
    await cluster.sdk.put('odd/line break.txt', Buffer.from('a space in a name\n'));
    await page.fill('#search', 'odd/');
    const names = page.locator('#files tbody td.name');
    await waitFor(async () => (await names.count()) === 2);
    expect((await names.allTextContents()).sort()).toEqual(['odd/line break.txt', 'odd/line\\nbreak.txt']);
    await expectText(page.locator('#files-note'), 'All 2 files with this prefix, newest first.');
    await page.fill('#search', '');
    await waitFor(async () => (await names.count()) === 6);
    expect(await page.locator('#files').evaluate((t) => t.closest('section')?.querySelector('h2')?.textContent)).toBe('Files');
  });

  it('fits a 400 px wide screen: the wide tables scroll inside their panels, the page does not', async () => {
    await page.setViewportSize({ width: 400, height: 800 });
    try {
      await waitFor(async () => (await page.locator('#nodes tbody tr').count()) === 3);
      const sizes = await page.evaluate(() => {
        const doc = (globalThis as unknown as { document: { documentElement: { scrollWidth: number; clientWidth: number }; querySelector(s: string): { scrollWidth: number; clientWidth: number; closest(s: string): { scrollWidth: number; clientWidth: number } | null } } }).document;
        const wrapper = doc.querySelector('#nodes').closest('.table-scroll');
        return { page: [doc.documentElement.scrollWidth, doc.documentElement.clientWidth], wrapper: wrapper && [wrapper.scrollWidth, wrapper.clientWidth] };
      });
      expect(sizes.page[0]).toBeLessThanOrEqual(sizes.page[1]);
      expect(sizes.wrapper).not.toBeNull();
      const [inner, outer] = sizes.wrapper as number[];
      expect(inner).toBeGreaterThan(outer); // the table is wider than the screen, and scrolls in its box
    } finally {
      await page.setViewportSize({ width: 1280, height: 900 });
    }
  });

  it('says when a draining node is done and may be stopped', async () => {
    if (!cluster) throw new Error('no cluster');
    // Bring the killed node back, so a drain has somewhere to copy to.
    await cluster.startNode(1);
    for (const node of cluster.nodes) await expectText(nodeRow(node.id).locator('.state'), 'alive', 15_000);
    const drained = cluster.nodes[0];
    expect((await cluster.cli(['drain', drained.id])).code).toBe(0);
    try {
      await expectText(nodeRow(drained.id).locator('.state'), 'draining — done, safe to stop', 30_000);
      expect(await nodeRow(drained.id).locator('.state').getAttribute('data-drain')).toBe('done');
      await expectText(page.locator('#h-badge'), 'fully replicated');
    } finally {
      expect((await cluster.cli(['drain', '--undo', drained.id])).code).toBe(0);
    }
    await expectText(nodeRow(drained.id).locator('.state'), 'alive', 10_000);
  }, 60_000);

  it('greys every panel while the controller is unreachable, ages on in the browser, and recovers', async () => {
    if (!cluster) throw new Error('no cluster');
    const controller = cluster.controller.child;
    await waitFor(async () => (await page.locator('#conn').getAttribute('data-state')) === 'live');
    controller.kill('SIGSTOP'); // frozen: connections hang, nothing comes
    try {
      await expectText(page.locator('#stale'), /^controller unreachable since \d\d:\d\d:\d\d; figures as of then$/, 15_000);
      expect(await page.locator(`${PANELS}.stale`).count()).toBe(await page.locator(PANELS).count());
      // Ages are computed against the browser's clock: a heartbeat from before the freeze is not "just now".
      const seen = nodeRow(cluster.nodes[2].id).locator('.seen');
      await waitFor(async () => / s ago$/.test((await seen.textContent()) ?? ''), 5_000);
    } finally {
      controller.kill('SIGCONT');
    }
    await waitFor(async () => await isHidden(page, '#stale'), 20_000);
    expect(await page.locator(`${PANELS}.stale`).count()).toBe(0);
    await waitFor(async () => (await page.locator('#conn').getAttribute('data-state')) === 'live');
  }, 60_000);

  it('signs out to an empty page: no figure, node or file stays on screen', async () => {
    await waitFor(async () => (await page.locator('#nodes tbody tr').count()) === 3 && (await page.locator('#files tbody tr').count()) > 0);
    await page.click('#logout');
    await waitFor(async () => !(await isHidden(page, '#login')));
    expect(await page.locator('#nodes tbody tr').count()).toBe(0);
    expect(await page.locator('#files tbody tr').count()).toBe(0);
    for (const id of ['#t-nodes', '#t-files', '#t-chunks', '#t-capacity', '#h-under', '#h-badge', '#h-progress']) {
      expect(await page.locator(id).textContent()).toBe('–');
    }
    expect(await page.locator('#clock').textContent()).toBe('');
    await expectText(page.locator('#notice'), 'This dashboard needs the admin token: paste it above and sign in.');
  });

  it('403: a valid token that is not the admin token shows the controller\'s reason and the sign-in form', async () => {
    if (!cluster) throw new Error('no cluster');
    const created = await cluster.cli(['token', 'create', '--scope', 'read', '--json']);
    expect(created.code).toBe(0);
    const { token } = JSON.parse(created.stdout.toString('utf8')) as { token: string };
    await signIn(page, token);
    await expectText(page.locator('#notice'), /^this token is valid, but \/metrics and \/api\/\* take only the admin token/, 10_000);
    expect(await isHidden(page, '#login')).toBe(false);
    expect(await isHidden(page, '#session')).toBe(true);
    expect(await page.locator('#conn').getAttribute('data-state')).toBe('locked');
    expect(await page.locator('#nodes tbody tr').count()).toBe(0);
  });

  it('401: a wrong token brings the sign-in form back, and the admin token then shows the data', async () => {
    if (!cluster) throw new Error('no cluster');
    await signIn(page, 'not-a-token'); // one failed attempt: far from this address's lockout
    await expectText(page.locator('#notice'), /^The controller refused this token: a valid token is required .*Sign in with the admin token\.$/, 10_000);
    expect(await isHidden(page, '#login')).toBe(false);
    await signIn(page, cluster.adminToken);
    await waitFor(async () => (await page.locator('#nodes tbody tr').count()) === 3, 10_000);
    expect(await isHidden(page, '#notice')).toBe(true);
    expect(await page.locator('#conn').getAttribute('data-state')).toBe('live');
  });

  it('429: a locked-out address keeps its token and signed-in state, says so, retries after Retry-After, and recovers', async () => {
    if (!cluster) throw new Error('no cluster');
    await page.click('#logout');
    const lockout = { error: { code: 'E_AUTH', message: 'too many failed attempts from this address; try later' } };
    await page.route('**/api/**', (route) => route.fulfill({ status: 429, headers: { 'Retry-After': '2' }, contentType: 'application/json', body: JSON.stringify(lockout) }));
    try {
      await signIn(page, cluster.adminToken);
      await expectText(page.locator('#notice'), /^This address is locked out after too many failed sign-ins; retrying in \d+ s$/);
      expect(await page.locator('#conn').getAttribute('data-state')).toBe('locked-out');
      expect(await isHidden(page, '#session')).toBe(false);
      expect(await isHidden(page, '#login')).toBe(true);
      expect(await page.evaluate(() => (globalThis as unknown as { sessionStorage: { getItem(k: string): string | null } }).sessionStorage.getItem('cairn.adminToken'))).toBe(cluster.adminToken);
      // It retries on its own: a second refusal comes in while still locked out.
      const refused = requests.length;
      await waitFor(async () => requests.slice(refused).some((r) => new URL(r.url).pathname === '/api/events'), 10_000);
    } finally {
      await page.unroute('**/api/**');
    }
    // The lockout is over: data flows and every trace of it goes, without a reload.
    await waitFor(async () => (await page.locator('#nodes tbody tr').count()) === 3, 15_000);
    await waitFor(async () => await isHidden(page, '#notice'));
    await waitFor(async () => (await page.locator('#conn').getAttribute('data-state')) === 'live');
    await waitFor(async () => (await page.locator('#files tbody tr').count()) > 0, 15_000);
  }, 60_000);

  it('renders what the controller says: waiting for room instead of an ETA, a first sample without one, the files past 200', async () => {
    if (!cluster) throw new Error('no cluster');
    const node = { id: 'n-synthetic', address: '127.0.0.1:1', zone: null, state: 'alive', capacity: 1 << 20, used: 1 << 10, chunks: 3, lastSeen: 0 };
    const overview = (repair: Record<string, number>) => {
      const time = Date.now();
      const status = { nodes: { alive: 1, suspect: 0, dead: 0, draining: 0 }, files: 1, bytes: 1, chunks: 9, underReplicated: 5, lost: 0, repair, gc: { pendingChunks: 0, deletedChunks: 0 } };
      return `event: overview\ndata: ${JSON.stringify({ time, status, nodes: [{ ...node, lastSeen: time }] })}\n\n`;
    };
    let repair: Record<string, number> = { queued: 5, running: 0, copiedChunks: 0, copiedBytes: 0, waitingForRoom: 3 };
    // Each stream carries one overview and ends; the page reconnects and gets the next.
    await page.route('**/api/events', (route) => route.fulfill({ status: 200, contentType: 'text/event-stream', body: overview(repair) }));
    const files = Array.from({ length: 200 }, (_, i) => ({ name: `f/${String(i).padStart(3, '0')}`, size: 1, sha256: '0'.repeat(64), replicas: 2, chunkCount: 1, createdAt: 1, updatedAt: i }));
    await page.route('**/api/files?*', (route) => route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify({ files, next: 'f/199' }) }));
    try {
      await page.reload();
      await expectText(page.locator('#h-progress'), '0 copied, 5 to go · waiting for room: 3 chunks cannot be placed (no node has room for another copy)', 10_000);
      expect(await page.locator('#h-badge').textContent()).toBe('waiting for room');
      await expectText(page.locator('#files-note'), 'The first 200 names in name order, shown newest first; there are more: type a longer prefix to see others.');

      // No waitingForRoom (a controller from before it): a rate and ETA, but only from enough samples.
      // (One copy a moment ago is no rate yet, and soon a stalled one: either way no ETA.)
      repair = { queued: 5, running: 0, copiedChunks: 1, copiedBytes: 1000 };
      await expectText(page.locator('#h-progress'), /^1 copied, 5 to go · (measuring the copy rate|no copy finished in the last \d+s) · ETA –$/, 10_000);
    } finally {
      await page.unroute('**/api/events');
      await page.unroute('**/api/files?*');
    }
    await page.reload();
    await waitFor(async () => (await page.locator('#nodes tbody tr').count()) === 3, 10_000);
  });
});

/**
 * A real lockout: ten bad bearer tokens from 127.0.0.1 lock HTTP out for a minute (this file's own
 * cluster, since it also locks out the test's other HTTP calls). The page, reloaded while locked out,
 * keeps its token, says so, and recovers by itself when the lockout ends.
 */
describe('dashboard under a real HTTP lockout', () => {
  let cluster: TestCluster | undefined;
  let context: BrowserContext | undefined;
  let profile: string | undefined;
  let page: Page;

  beforeAll(async () => {
    cluster = await TestCluster.start({ nodes: 1, replicas: 1 });
    ({ context, profile, page } = await openBrowser());
  }, 60_000);

  afterAll(async () => {
    await context?.close().catch(() => undefined);
    if (profile) await rm(profile, { recursive: true, force: true });
    await cluster?.stop();
  });

  it('waits out a 429 lockout with the token kept, then shows the data again', async () => {
    if (!cluster) throw new Error('no cluster');
    await page.goto(`http://127.0.0.1:${cluster.controllerPort}/`);
    await signIn(page, cluster.adminToken);
    await waitFor(async () => (await page.locator('#nodes tbody tr').count()) === 1, 10_000);

    const metrics = `http://127.0.0.1:${cluster.controllerPort}/metrics`;
    for (let i = 0; i < 10; i++) await fetch(metrics, { headers: { authorization: `Bearer wrong-${i}` } }).then((r) => r.arrayBuffer());
    const locked = await fetch(metrics, { headers: { authorization: `Bearer ${cluster.adminToken}` } });
    await locked.arrayBuffer();
    expect(locked.status).toBe(429);
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0);

    await page.reload(); // the open stream was let in before; a new one is refused
    await expectText(page.locator('#notice'), /^This address is locked out after too many failed sign-ins; retrying in \d+ s$/, 10_000);
    expect(await isHidden(page, '#session')).toBe(false);
    expect(await page.locator('#conn').getAttribute('data-state')).toBe('locked-out');

    // The lockout lasts a minute from the first failure; the page retries when told and recovers.
    await waitFor(async () => (await page.locator('#nodes tbody tr').count()) === 1, 100_000);
    await waitFor(async () => await isHidden(page, '#notice'));
    expect(await page.locator('#conn').getAttribute('data-state')).toBe('live');
    expect(await isHidden(page, '#login')).toBe(true);
  }, 150_000);
});

async function waitFor(predicate: () => Promise<boolean>, timeoutMs = 5_000, describe?: () => Promise<unknown>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms${describe ? ` (last seen: ${JSON.stringify(await describe())})` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
