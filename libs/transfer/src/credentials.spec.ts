import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { hostname, networkInterfaces, tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { defaultToken, LOCAL_ADMIN_TOKEN_PATH, readTokenFile } from './credentials';

describe('defaultToken', () => {
  let root: string;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'cairn-credentials-'));
  });

  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  /** Writes a local cluster's admin token under `dir` (as `npm start` leaves it). */
  async function adminToken(dir: string, token: string): Promise<void> {
    await mkdir(join(dir, '.cairn', 'controller'), { recursive: true });
    await writeFile(join(dir, LOCAL_ADMIN_TOKEN_PATH), token);
  }

  async function subdir(...parts: string[]): Promise<string> {
    const dir = join(root, ...parts);
    await mkdir(dir, { recursive: true });
    return dir;
  }

  /** True when some ancestor of the temp dir already holds an admin token (then "none found" cannot be tested). */
  function ambientTokenAbove(dir: string): boolean {
    for (let d = resolve(dir); ; d = dirname(d)) {
      if (existsSync(join(d, LOCAL_ADMIN_TOKEN_PATH))) return true;
      if (dirname(d) === d) return false;
    }
  }

  it('is .cairn/controller/admin-token, relative to a directory', () => {
    expect(LOCAL_ADMIN_TOKEN_PATH).toBe(join('.cairn', 'controller', 'admin-token'));
  });

  it('takes CAIRN_TOKEN first, even next to a local cluster', async () => {
    await adminToken(root, 'from-file');
    expect(defaultToken({ CAIRN_TOKEN: 'from-env' }, root)).toBe('from-env');
  });

  it('ignores an empty CAIRN_TOKEN', async () => {
    await adminToken(root, 'from-file');
    expect(defaultToken({ CAIRN_TOKEN: '' }, root)).toBe('from-file');
  });

  it('reads the admin token in the working directory, without its trailing newline or spaces', async () => {
    await adminToken(root, '  cairn_0123456789abcdef_token \n');
    expect(defaultToken({}, root)).toBe('cairn_0123456789abcdef_token');
  });

  it('walks up the parents to find it, as git finds .git', async () => {
    await adminToken(root, 'from-root');
    const deep = await subdir('a', 'b', 'c', 'd');
    expect(defaultToken({}, deep)).toBe('from-root');
  });

  it('takes the nearest one when several directories hold one', async () => {
    await adminToken(root, 'outer');
    await adminToken(await subdir('project'), 'inner');
    expect(defaultToken({}, await subdir('project', 'src', 'deep'))).toBe('inner');
    expect(defaultToken({}, await subdir('elsewhere'))).toBe('outer');
  });

  it('does not look into children or siblings', async () => {
    await adminToken(await subdir('child'), 'child');
    await adminToken(await subdir('sibling'), 'sibling');
    const start = await subdir('here');
    if (ambientTokenAbove(root)) return; // a real local cluster above the temp dir would answer instead
    expect(defaultToken({}, root)).toBeUndefined();
    expect(defaultToken({}, start)).toBeUndefined();
  });

  it('needs the whole path: a .cairn without controller/admin-token does not count', async () => {
    await mkdir(join(root, '.cairn', 'controller'), { recursive: true });
    await writeFile(join(root, '.cairn', 'admin-token'), 'misplaced');
    if (ambientTokenAbove(root)) return;
    expect(defaultToken({}, root)).toBeUndefined();
  });

  it('resolves a relative working directory', async () => {
    await adminToken(root, 'relative');
    const deep = await subdir('x', 'y');
    expect(defaultToken({}, relative(process.cwd(), deep))).toBe('relative');
  });

  it("gives a local cluster's admin token only to a controller on this machine; CAIRN_TOKEN to any", async () => {
    await adminToken(root, 'local-admin');
    const ownAddress = Object.values(networkInterfaces()).flat().find((a) => a && !a.internal && a.family === 'IPv4')?.address;
    const own = [`${hostname()}:7700`, ...(ownAddress ? [`${ownAddress}:7700`] : [])]; // this machine by its name or a LAN address
    for (const controller of ['127.0.0.1:7700', 'localhost:7700', 'ws://127.0.0.2:9', '[::1]:7700', 'https://localhost/', ...own]) {
      expect(defaultToken({}, root, controller)).toBe('local-admin');
    }
    for (const controller of ['192.0.2.5:7700', 'cairn.example.com:7700', 'wss://[2001:db8::1]:7700', 'http://127.0.0.1.example.com/', 'not an address ::']) {
      expect(defaultToken({}, root, controller)).toBeUndefined();
      expect(defaultToken({ CAIRN_TOKEN: 'chosen' }, root, controller)).toBe('chosen');
    }
  });

  it('defaults to process.env and process.cwd()', async () => {
    await adminToken(root, 'from-cwd');
    const saved = process.env['CAIRN_TOKEN'];
    const cwd = jest.spyOn(process, 'cwd').mockReturnValue(root);
    try {
      delete process.env['CAIRN_TOKEN'];
      expect(defaultToken()).toBe('from-cwd');
      process.env['CAIRN_TOKEN'] = 'from-env';
      expect(defaultToken()).toBe('from-env');
    } finally {
      cwd.mockRestore();
      if (saved === undefined) delete process.env['CAIRN_TOKEN'];
      else process.env['CAIRN_TOKEN'] = saved;
    }
  });
});

describe('readTokenFile', () => {
  it('trims whitespace around the token', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cairn-token-file-'));
    try {
      await writeFile(join(dir, 'token'), '\n\tcairn_x_y\r\n');
      expect(readTokenFile(join(dir, 'token'))).toBe('cairn_x_y');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
