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
    if (!existsSync(CHROMIUM)) {
      throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium; .ci/run does it) to run the dashboard test`);
    }
    // Small capacities and one zone each, so the capacity bars and zones show something.
    const flags = (zone: string) => ['--zone', zone, '--capacity', '16MiB'];
    cluster = await TestCluster.start({ nodes: 3, nodeTimeout: '2s', nodeFlags: { 0: flags('a'), 1: flags('b'), 2: flags('c') } });
    profile = await mkdtemp(join(tmpdir(), 'cairn-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1280, height: 900 },
      deviceScaleFactor: 1,
    });
    page = context.pages()[0] ?? (await context.newPage());
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

  async function expectText(locator: ReturnType<Page['locator']>, text: string, timeoutMs = 5_000): Promise<void> {
    await waitFor(async () => ((await locator.textContent({ timeout: 250 }).catch(() => null)) ?? '').trim() === text, timeoutMs, () =>
      locator.textContent({ timeout: 250 }).catch(() => null),
    );
  }
});

async function waitFor(predicate: () => Promise<boolean>, timeoutMs = 5_000, describe?: () => Promise<unknown>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms${describe ? ` (last seen: ${JSON.stringify(await describe())})` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
