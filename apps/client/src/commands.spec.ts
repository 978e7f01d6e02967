import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { CairnError, type FileInfo } from '@cairn/protocol';
import { CairnClient, PutOptions, createProcessLogger, writeFileAtomically } from '@cairn/transfer';
import { CommandContext, drainCommand, getCommand, putCommand, tokenCreateCommand, tokenListCommand, tokenRevokeCommand } from './commands';
import { printable } from './format';

const STORED: FileInfo = { id: 7, name: 'docs/a.txt', size: 5, sha256: 'a'.repeat(64), replicas: 2, chunkCount: 1, createdAt: 0, updatedAt: 0 };

/** A CairnClient stand-in whose put begins upload `up-42`, as the SDK reports it through `onBegin`. */
const fakeClient = {
  put: async (_name: string, _source: unknown, options: PutOptions = {}) => {
    options.onBegin?.({ uploadId: 'up-42' });
    return STORED;
  },
} as unknown as CairnClient;

describe('putCommand logging', () => {
  let dir: string;
  let file: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-client-commands-'));
    file = join(dir, 'a.txt');
    await writeFile(file, 'hello');
  });

  afterEach(() => rm(dir, { recursive: true, force: true }));

  function context(level: string): { ctx: CommandContext; logs: () => Array<Record<string, unknown>>; out: () => string } {
    const sink = new PassThrough();
    let logged = '';
    sink.on('data', (chunk: Buffer) => (logged += chunk.toString()));
    const stdout = new PassThrough();
    let printed = '';
    stdout.on('data', (chunk: Buffer) => (printed += chunk.toString()));
    const log = createProcessLogger({ level, format: 'json', base: { role: 'client' }, destination: sink });
    return {
      ctx: { client: fakeClient, json: false, quiet: true, out: stdout, log },
      logs: () => logged.split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>),
      out: () => printed,
    };
  }

  it('at info, names the upload id the controller gave the put, when it begins and once it is stored', async () => {
    const { ctx, logs, out } = context('info');

    await putCommand(ctx, file, 'docs/a.txt');

    expect(logs()).toEqual([
      expect.objectContaining({ msg: 'upload begun', name: 'docs/a.txt', uploadId: 'up-42', role: 'client' }),
      expect.objectContaining({ msg: 'file stored', name: 'docs/a.txt', uploadId: 'up-42', size: 5, chunks: 1 }),
    ]);
    expect(out()).toBe('stored docs/a.txt (5 bytes, 1 chunk, 2 replicas)\n');
  });

  it('at the default level (warn), logs nothing: the output is as it always was', async () => {
    const { ctx, logs, out } = context('warn');

    await putCommand(ctx, file, 'docs/a.txt');

    expect(logs()).toEqual([]);
    expect(out()).toBe('stored docs/a.txt (5 bytes, 1 chunk, 2 replicas)\n');
  });
});

describe('admin commands check their ids before asking the controller', () => {
  const calls: string[] = [];
  const client = {
    drain: async (id: string) => void calls.push(`drain ${id}`),
    revokeToken: async (id: string) => void calls.push(`revoke ${id}`),
  } as unknown as CairnClient;
  const ctx = (): CommandContext => ({ client, json: false, quiet: true, out: new PassThrough(), log: createProcessLogger({ level: 'warn', format: 'json', base: {}, destination: new PassThrough() }) });
  const usageError = (promise: Promise<unknown>) =>
    promise.then(
      () => 'resolved',
      (err: CairnError) => `${err.code}: ${err.message}`,
    );

  beforeEach(() => calls.splice(0));

  it('drain: a malformed node id is a usage error (E_USAGE, which the CLI exits with status 2), quoted on one line as printed', async () => {
    // Escaped once, where the CLI prints the error (printable), not in the message too.
    expect(printable(await usageError(drainCommand(ctx(), 'bad id\nsecond line\\', false)))).toBe(
      'E_USAGE: drain needs a node id (1-64 of A-Z a-z 0-9 _ -, as `cairn nodes` shows), not "bad id\\nsecond line\\\\"',
    );
    expect(await usageError(drainCommand(ctx(), 'n'.repeat(100), true))).toMatch(/^E_USAGE: .*not "n{70}…"$/);
    expect(calls).toEqual([]);
    await drainCommand(ctx(), 'n-4f1c2a9b33e0', false);
    expect(calls).toEqual(['drain n-4f1c2a9b33e0']);
  });

  it('token revoke: anything but a 16-hex-digit id (a whole token, say) is a usage error', async () => {
    expect(await usageError(tokenRevokeCommand(ctx(), `cairn_3f2a9c0e11d4b5a6_${'s'.repeat(43)}`))).toMatch(/^E_USAGE: token revoke needs a token id/);
    expect(await usageError(tokenRevokeCommand(ctx(), '3F2A9C0E11D4B5A6'))).toMatch(/^E_USAGE/);
    expect(calls).toEqual([]);
    await tokenRevokeCommand(ctx(), '3f2a9c0e11d4b5a6');
    expect(calls).toEqual(['revoke 3f2a9c0e11d4b5a6']);
  });
});

describe('put and get report local file-system errors in one line with a stable code, naming the user\'s path', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-client-local-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  const ONE_BYTE: FileInfo = { ...STORED, name: 'm4', size: 1, chunkCount: 1, replicas: 1 };
  /** A client that stores anything as ONE_BYTE, and writes a get as the SDK does: through a temp file beside the destination. */
  const client = {
    put: async () => ONE_BYTE,
    stat: async () => ONE_BYTE,
    getToFile: async (_name: string, dest: string) => {
      await writeFileAtomically(dest, [Buffer.from('x')]);
      return ONE_BYTE;
    },
  } as unknown as CairnClient;
  const printed: string[] = [];
  const ctx = (): CommandContext => {
    const out = new PassThrough();
    out.on('data', (chunk: Buffer) => printed.push(chunk.toString()));
    return { client, json: false, quiet: true, out, log: createProcessLogger({ level: 'warn', format: 'json', base: {}, destination: new PassThrough() }) };
  };
  const failure = (promise: Promise<unknown>) =>
    promise.then(
      () => 'resolved',
      (err: CairnError) => `${err.message} (${err.code})`,
    );
  beforeEach(() => printed.splice(0));

  it('put of a file that is not there: E_NOT_FOUND, not Node\'s ENOENT', async () => {
    const missing = join(dir, 'nonexist.txt');
    expect(await failure(putCommand(ctx(), missing, undefined))).toBe(`cannot read ${missing}: no such file (E_NOT_FOUND)`);
  });

  it('put of a directory: E_USAGE, pointing to put -r', async () => {
    expect(await failure(putCommand(ctx(), dir, 'f'))).toBe(`${dir} is a directory: store a tree with put -r ${dir} <prefix> (E_USAGE)`);
  });

  it('get into a directory that is not there: E_NOT_FOUND naming it, never the temp file', async () => {
    const dest = join(dir, 'nonexist', 'x');
    expect(await failure(getCommand(ctx(), 'm4', dest))).toBe(`cannot write ${dest}: no such directory ${join(dir, 'nonexist')} (E_NOT_FOUND)`);
    expect(await readdir(dir)).toEqual([]);
  });

  it('get below a regular file: E_NOT_FOUND too, as there is no such directory', async () => {
    await writeFile(join(dir, 'afile'), 'a');
    const dest = join(dir, 'afile', 'x');
    expect(await failure(getCommand(ctx(), 'm4', dest))).toBe(`cannot write ${dest}: no such directory ${join(dir, 'afile')} (E_NOT_FOUND)`);
  });

  it('counts in the singular where there is one: 1 byte, 1 chunk, 1 replica', async () => {
    const src = join(dir, 'one');
    await writeFile(src, 'x');
    await mkdir(join(dir, 'into'));
    await putCommand(ctx(), src, 'm4');
    await getCommand(ctx(), 'm4', join(dir, 'into'));
    expect(printed).toEqual(['stored m4 (1 byte, 1 chunk, 1 replica)\n', `saved m4 to ${join(dir, 'into', 'm4')} (1 byte)\n`]);
  });
});

describe('token create says the prefix the controller gave the token', () => {
  const TOKEN = `cairn_cca473f6f419a05f_${'s'.repeat(43)}`;
  /** A controller that limits a token made without --prefix to `own` (the creating token's prefix), as it does. */
  function controller(own: string | null, listing: 'works' | 'fails' = 'works') {
    const tokens: Array<{ id: string; scope: 'read' | 'write' | 'admin'; prefix: string | null; createdAt: number; revokedAt: number | null }> = [
      { id: '7d1197dec68e00ea', scope: 'read', prefix: null, createdAt: 1, revokedAt: null },
    ];
    const calls: string[] = [];
    const client = {
      createToken: async (scope: 'read' | 'write' | 'admin', prefix?: string) => {
        calls.push('create');
        tokens.push({ id: 'cca473f6f419a05f', scope, prefix: prefix ?? own, createdAt: 2, revokedAt: null });
        return { id: 'cca473f6f419a05f', token: TOKEN };
      },
      listTokens: async () => {
        calls.push('list');
        if (listing === 'fails') throw new CairnError('E_UNAVAILABLE', 'connection closed (1006)');
        return tokens;
      },
    } as unknown as CairnClient;
    let printed = '';
    const out = new PassThrough();
    out.on('data', (chunk: Buffer) => (printed += chunk.toString()));
    const ctx = (json = false): CommandContext => ({ client, json, quiet: true, out, log: createProcessLogger({ level: 'warn', format: 'json', base: {}, destination: new PassThrough() }) });
    return { ctx, calls, printed: () => printed };
  }

  it('without --prefix, from an admin limited to w2/: names under "w2/", read back from token list by id', async () => {
    const { ctx, printed, calls } = controller('w2/');
    await tokenCreateCommand(ctx(), 'read', undefined);
    expect(printed()).toBe(`token cca473f6f419a05f (read, names under "w2/"):\n${TOKEN}\nIt is shown only now: store it as a secret.\n`);
    expect(calls).toEqual(['create', 'list']);
  });

  it('without --prefix, from an admin of every name: every name; with --json, prefix null beside id and token', async () => {
    const { ctx, printed } = controller(null);
    await tokenCreateCommand(ctx(), 'write', undefined);
    await tokenCreateCommand(ctx(true), 'write', undefined);
    const [human, json] = printed().split('It is shown only now: store it as a secret.\n');
    expect(human).toBe(`token cca473f6f419a05f (write, every name):\n${TOKEN}\n`);
    expect(JSON.parse(json)).toEqual({ id: 'cca473f6f419a05f', token: TOKEN, prefix: null });
  });

  it('with --prefix: that prefix, asked for nothing more', async () => {
    const { ctx, printed, calls } = controller('w2/');
    await tokenCreateCommand(ctx(), 'write', 'w2/w3/');
    expect(printed()).toMatch(/^token cca473f6f419a05f \(write, names under "w2\/w3\/"\):\n/);
    expect(calls).toEqual(['create']);
  });

  it('prints the token, shown only now, even where its prefix cannot be read back', async () => {
    const { ctx, printed } = controller('w2/', 'fails');
    await tokenCreateCommand(ctx(), 'read', undefined);
    expect(printed()).toBe(`token cca473f6f419a05f (read; its names: see cairn token list):\n${TOKEN}\nIt is shown only now: store it as a secret.\n`);
    await tokenCreateCommand(ctx(true), 'read', undefined);
    expect(JSON.parse(printed().split('\n').at(-2) as string)).toEqual({ id: 'cca473f6f419a05f', token: TOKEN });
  });

  it('token list: a table with the dates; --json the records as they are', async () => {
    const { ctx, printed } = controller(null);
    await tokenListCommand(ctx());
    expect(printed()).toBe('ID                SCOPE  PREFIX  STATE   CREATED                   REVOKED\n7d1197dec68e00ea  read   *       active  1970-01-01T00:00:00.001Z  -\n');
    await tokenListCommand(ctx(true));
    expect(JSON.parse(printed().split('\n').at(-2) as string)).toEqual([{ id: '7d1197dec68e00ea', scope: 'read', prefix: null, createdAt: 1, revokedAt: null }]);
  });
});
