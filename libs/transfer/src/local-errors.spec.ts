import { mkdir, mkdtemp, readFile, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CairnError } from '@cairn/protocol';
import { localFileError, noDirectoryFor, withLocalErrors } from './local-errors';

/** What the CLI would print of `err`: its message and code, or that it is no CairnError. */
const shown = (err: unknown) => (err instanceof CairnError ? `${err.message} (${err.code})` : `not a CairnError: ${String(err)}`);

/** A system error as Node's fs gives one: an errno code, the syscall, and a message naming the path it was given. */
const systemError = (code: string, errno: number, path: string) => Object.assign(new Error(`${code}: whatever, open '${path}'`), { code, errno, syscall: 'open', path });

describe('localFileError', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-local-errors-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  const failure = (work: Promise<unknown>) => work.then(() => 'resolved', (err: unknown) => err);

  it('takes a path that is not there for E_NOT_FOUND, and one of the wrong kind for E_USAGE', async () => {
    await writeFile(join(dir, 'file'), 'x');
    await mkdir(join(dir, 'full', 'sub'), { recursive: true });
    const cases: Array<[() => Promise<unknown>, string]> = [
      [() => stat(join(dir, 'missing')), 'cannot do it: no such file or directory (E_NOT_FOUND)'],
      [() => stat(join(dir, 'file', 'below')), 'cannot do it: not a directory (E_NOT_FOUND)'],
      [() => readFile(dir), 'cannot do it: is a directory (E_USAGE)'],
      [() => mkdir(join(dir, 'file')), 'cannot do it: file already exists (E_USAGE)'],
      [() => rmdir(join(dir, 'full')), 'cannot do it: directory not empty (E_USAGE)'],
    ];
    for (const [work, expected] of cases) expect(shown(localFileError(await failure(work()), 'do it'))).toBe(expected);
  });

  it('takes any other system error for the local disk\'s (E_DISK), in the system\'s words, never naming the path Node was given', () => {
    const temp = '/restore/.a.cairn-63d47a496e87.tmp';
    expect(shown(localFileError(systemError('EACCES', -13, temp), 'write restore/a'))).toBe('cannot write restore/a: permission denied (E_DISK)');
    expect(shown(localFileError(systemError('ENOSPC', -28, temp), 'write restore/a'))).toBe('cannot write restore/a: no space left on device (E_DISK)');
    expect(shown(localFileError(systemError('EROFS', -30, temp), 'write restore/a'))).toBe('cannot write restore/a: read-only file system (E_DISK)');
    expect(shown(localFileError(systemError('EIO', -5, temp), 'write restore/a'))).toBe('cannot write restore/a: i/o error (E_DISK)');
  });

  it('gives its own reasons where the caller knows better, and leaves errors that are not the file system\'s as they are', () => {
    expect(shown(localFileError(systemError('ENOENT', -2, '/x/.y.tmp'), 'write x/y', noDirectoryFor('x/y')))).toBe('cannot write x/y: no such directory x (E_NOT_FOUND)');
    const fromCluster = new CairnError('E_NOT_FOUND', 'no file named m4');
    expect(localFileError(fromCluster, 'write m4')).toBe(fromCluster);
    const plain = new Error('not a system call');
    expect(localFileError(plain, 'write m4')).toBe(plain);
  });

  it('withLocalErrors: reports the work\'s failure so, and gives back what it resolves to', async () => {
    expect(shown(await failure(withLocalErrors('read nonexist.txt', stat(join(dir, 'nonexist.txt')), { ENOENT: 'no such file' })))).toBe(
      'cannot read nonexist.txt: no such file (E_NOT_FOUND)',
    );
    expect((await withLocalErrors('read it', stat(dir))).isDirectory()).toBe(true);
  });
});
