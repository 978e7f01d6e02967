import { getSystemErrorMap } from 'node:util';
import { dirname } from 'node:path';
import { CairnError, type ErrorCode, isCairnError } from '@cairn/protocol';

/**
 * The stable code of a local file-system error: a path that is not there is E_NOT_FOUND, a path of
 * the wrong kind (a directory for a file, a file for a directory) E_USAGE; anything else (EACCES,
 * EROFS, ENOSPC, EIO, …) is the local disk's, E_DISK.
 */
const CODES: Readonly<Record<string, ErrorCode>> = {
  ENOENT: 'E_NOT_FOUND',
  ENOTDIR: 'E_NOT_FOUND',
  EISDIR: 'E_USAGE',
  EEXIST: 'E_USAGE',
  ENOTEMPTY: 'E_USAGE',
};

/** Reasons in words for some errno codes, in place of the system's (`ENOENT: 'no such file'`). */
export type Reasons = Readonly<Record<string, string>>;

/** Where the system's words are unclear: EISDIR's are `illegal operation on a directory`. */
const PLAINER: Reasons = { EISDIR: 'is a directory' };

/**
 * An error of a system call (it has an errno `code` and the `syscall`), as Node's fs functions throw.
 * Not told by `instanceof Error`: one made in another realm (a worker's, a test runner's) is no instance.
 */
function isSystemError(err: unknown): err is NodeJS.ErrnoException {
  const { code, syscall } = (err ?? {}) as NodeJS.ErrnoException;
  return typeof code === 'string' && typeof syscall === 'string';
}

/** The system's own words for an errno (`permission denied` for EACCES), or its code where it has none. */
function systemReason(err: NodeJS.ErrnoException): string {
  return (err.errno !== undefined && getSystemErrorMap().get(err.errno)?.[1]) || String(err.code);
}

/**
 * `err` as a CairnError when it came from the local file system while the SDK or the CLI was doing
 * `what` (`read photos/a.jpg`): one line naming the caller's path, never Node's text, which names the
 * syscall and whatever path it was given (a download's internal temp file), and a stable code. The
 * system's error stays in `details.localError`, so that a caller that spells the path its own way
 * (the CLI, as the user typed it) can say it again with its words. Errors that are not the file
 * system's, a CairnError from the cluster included, are given back as they are.
 */
export function localFileError(err: unknown, what: string, reasons: Reasons = {}): unknown {
  const system = isSystemError(err) ? err : localErrorOf(err);
  if (!system) return err;
  const code = system.code as string;
  return new CairnError(CODES[code] ?? 'E_DISK', `cannot ${what}: ${reasons[code] ?? PLAINER[code] ?? systemReason(system)}`, { localError: system });
}

/** The file-system error a CairnError of `localFileError` was made from. */
function localErrorOf(err: unknown): NodeJS.ErrnoException | undefined {
  const inner = isCairnError(err) ? err.details?.['localError'] : undefined;
  return isSystemError(inner) ? inner : undefined;
}

/** `work`, its local file-system errors reported by `localFileError`. */
export function withLocalErrors<T>(what: string, work: Promise<T>, reasons?: Reasons): Promise<T> {
  return work.catch((err: unknown) => {
    throw localFileError(err, what, reasons);
  });
}

/** Why a file cannot be written at `path` (as the user gave it) when the system says ENOENT or ENOTDIR: its directory is not one. */
export function noDirectoryFor(path: string): Reasons {
  const reason = `no such directory ${dirname(path)}`;
  return { ENOENT: reason, ENOTDIR: reason };
}
