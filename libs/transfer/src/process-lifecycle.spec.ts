import { X509Certificate, createPrivateKey } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CairnError } from '@cairn/protocol';
import { runMain, stopOnSignals } from './process-lifecycle';

describe('process lifecycle', () => {
  let exit: jest.SpyInstance;
  let stderr: jest.SpyInstance;
  beforeEach(() => {
    exit = jest.spyOn(process, 'exit').mockImplementation((() => undefined) as never);
    stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
  });
  afterEach(() => jest.restoreAllMocks());
  const settle = () => new Promise((r) => setImmediate(r));

  it('reports a failed main on one line and exits 2 for a usage error, 1 otherwise (with a stack for bugs)', async () => {
    runMain('cairn-x', async () => {
      throw new CairnError('E_USAGE', '--port must be 0-65535');
    });
    await settle();
    expect(stderr).toHaveBeenCalledWith('cairn-x: --port must be 0-65535\n');
    expect(exit).toHaveBeenLastCalledWith(2);

    runMain('cairn-x', async () => {
      throw new TypeError('boom');
    });
    await settle();
    expect(String(stderr.mock.calls.at(-1)?.[0])).toMatch(/^cairn-x: TypeError: boom\n\s+at /);
    expect(exit).toHaveBeenLastCalledWith(1);
  });

  /** What runMain writes and how it exits when `main` fails with what `fail` throws. */
  async function failure(fail: () => unknown): Promise<{ line: string; code: unknown }> {
    const exited = new Promise((resolve) => exit.mockImplementationOnce(((code: number) => resolve(code)) as never));
    runMain('cairn-x', async () => {
      await fail();
    });
    const code = await exited; // after real I/O, which takes more than a turn of the event loop
    return { line: String(stderr.mock.calls.at(-1)?.[0]), code };
  }

  describe('errors of the operator\'s environment are one line without a stack', () => {
    let dir: string;
    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), 'cairn-lifecycle-'));
    });
    afterEach(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('names the call and the path of a system error, and exits 2 where the path is of the wrong kind', async () => {
      const file = join(dir, 'afile');
      await writeFile(file, 'x');
      expect(await failure(() => mkdir(file))).toEqual({ line: `cairn-x: cannot mkdir ${file}: file already exists\n`, code: 2 });
      expect(await failure(() => mkdir(join(file, 'sub'), { recursive: true }))).toEqual({ line: `cairn-x: cannot mkdir ${join(file, 'sub')}: not a directory\n`, code: 2 });
      expect(await failure(() => writeFile(dir, 'x'))).toEqual({ line: `cairn-x: cannot open ${dir}: is a directory\n`, code: 2 });
    });

    it('exits 1 for other system errors: a file not there, no permission', async () => {
      const missing = join(dir, 'missing', 'admin-token');
      expect(await failure(() => chmod(missing, 0o600))).toEqual({ line: `cairn-x: cannot chmod ${missing}: no such file or directory\n`, code: 1 });
      // As Node's fs makes it (a test run as root may chmod anything).
      const eperm = Object.assign(new Error(`EPERM: operation not permitted, chmod '${missing}'`), { errno: -1, code: 'EPERM', syscall: 'chmod', path: missing });
      expect(await failure(() => Promise.reject(eperm))).toEqual({ line: `cairn-x: cannot chmod ${missing}: operation not permitted\n`, code: 1 });
      const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:7700'), { errno: -111, code: 'ECONNREFUSED', syscall: 'connect', address: '127.0.0.1', port: 7700 });
      expect(await failure(() => Promise.reject(refused))).toEqual({ line: 'cairn-x: cannot connect 127.0.0.1:7700: connection refused\n', code: 1 });
    });

    it('blames an OpenSSL error of certificates and PEM files on the TLS options, and exits 2', async () => {
      expect(await failure(() => new X509Certificate(Buffer.from('a key, say')))).toEqual({ line: 'cairn-x: TLS: no start line (check --tls-cert and --tls-key)\n', code: 2 });
      const mismatch = Object.assign(new Error('error:05800074:x509 certificate routines::key values mismatch'), {
        code: 'ERR_OSSL_X509_KEY_VALUES_MISMATCH',
        library: 'x509 certificate routines',
        reason: 'key values mismatch',
      });
      expect(await failure(() => Promise.reject(mismatch))).toEqual({ line: 'cairn-x: TLS: key values mismatch (check --tls-cert and --tls-key)\n', code: 2 });
    });

    it('says another OpenSSL error (a key file in the data directory) on one line too, exiting 1', async () => {
      expect(await failure(() => createPrivateKey('not a key'))).toEqual({ line: 'cairn-x: cannot use a key or certificate: unsupported (DECODER routines)\n', code: 1 });
    });

    it('keeps the stack of anything else: a bug', async () => {
      const { line, code } = await failure(() => {
        throw Object.assign(new Error('odd'), { code: 'E_SOMETHING' }); // a code, but no syscall
      });
      expect(line).toMatch(/^cairn-x: Error: odd\n\s+at /);
      expect(code).toBe(1);
    });
  });

  it('stops once, however many signals come, then exits 0', async () => {
    const on = jest.spyOn(process, 'on').mockImplementation(() => process);
    const stop = jest.fn(async () => undefined);
    const once = stopOnSignals(stop);
    expect(on.mock.calls.map((c) => c[0])).toEqual(['SIGINT', 'SIGTERM']);
    await Promise.all([once('SIGTERM'), once('SIGINT')]);
    expect(stop).toHaveBeenCalledTimes(1);
    expect(stop).toHaveBeenCalledWith('SIGTERM');
    expect(exit).toHaveBeenCalledTimes(1);
    expect(exit).toHaveBeenCalledWith(0);
  });
});
