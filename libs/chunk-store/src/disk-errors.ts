import { CairnError, isCairnError } from '@cairn/protocol';

/** errno codes that mean "the disk is full" (ENOSPC) or "our quota is" (EDQUOT). */
const OUT_OF_SPACE_CODES: ReadonlySet<string> = new Set(['ENOSPC', 'EDQUOT']);

export function errnoOf(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = (err as { code: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}

/** ENOENT only: an absent file. Anything else (EIO above all) is a disk problem, never "absent". */
export function isMissing(err: unknown): boolean {
  return errnoOf(err) === 'ENOENT';
}

/**
 * A verified read's finding that the bytes on disk are wrong (code `ECORRUPT`, from an I/O thread or
 * small-reads.ts) as the `E_CORRUPT` the store reports; undefined for any other failure.
 */
export function asCorruptChunk(err: unknown, hash: string): CairnError | undefined {
  if (errnoOf(err) !== 'ECORRUPT') return undefined;
  return new CairnError('E_CORRUPT', `chunk ${hash} on disk ${(err as Error).message}`, { hash });
}

/**
 * errno codes of a read that means the copy's bytes cannot be had (a bad sector, a file system's
 * checksum failure), unlike a process limit (EMFILE) or a permission problem, which say nothing
 * about the copy.
 */
const UNREADABLE_CODES: ReadonlySet<string> = new Set(['EIO', 'EBADMSG', 'EUCLEAN']);

/**
 * A read's finding that this copy is no good: its bytes do not match its hash (`E_CORRUPT`), or the
 * disk cannot give them back (`E_DISK` with an errno of UNREADABLE_CODES). Either way it is
 * quarantined and reported, so that the cluster repairs the chunk from another copy (invariant 3).
 */
export function isUnreadableCopy(err: unknown): boolean {
  if (isCairnError(err, 'E_CORRUPT')) return true;
  if (!isCairnError(err, 'E_DISK')) return false;
  const errno = err.details?.errno;
  return typeof errno === 'string' && UNREADABLE_CODES.has(errno);
}

/**
 * The code of a read that found something other than a regular file at a chunk's path: a FIFO, a
 * device (a directory is EISDIR). Not an errno: chunk-files.ts and io-threads.ts make it.
 */
export const NOT_A_REGULAR_FILE = 'ENOTREG';

/**
 * Codes of an open for reading (chunk-files.ts) that found no chunk file at the chunk's path: nothing
 * (ENOENT), a symbolic link (ELOOP: opened with O_NOFOLLOW), a socket (ENXIO), a FIFO or a device
 * (NOT_A_REGULAR_FILE). `has` and `list`, which look only at regular files (lstat), count the chunk
 * absent there too, and a put of it takes the entry's place (its rename replaces it). A directory
 * (EISDIR) is not among them: no put can replace it, so it stays a disk problem (`E_DISK`).
 */
const NO_CHUNK_FILE_CODES: ReadonlySet<string> = new Set(['ENOENT', 'ELOOP', 'ENXIO', NOT_A_REGULAR_FILE]);

/** A read's finding that there is no chunk file at its path (`NO_CHUNK_FILE_CODES`): the chunk is not stored. */
export function isNoChunkFile(err: unknown): boolean {
  return NO_CHUNK_FILE_CODES.has(errnoOf(err) ?? '');
}

export function isAlreadyExisting(err: unknown): boolean {
  return errnoOf(err) === 'EEXIST';
}

/**
 * Turns a file-system failure into a CairnError: out of space → `E_CAPACITY`, everything else →
 * `E_DISK`. A CairnError passes through unchanged. The message names the operation and the chunk,
 * not the path, because messages travel to remote peers; the path stays in `details`.
 */
export function toDiskError(err: unknown, operation: string, details: Record<string, unknown>): CairnError {
  if (err instanceof CairnError) return err;
  const errno = errnoOf(err) ?? 'unknown';
  const code = OUT_OF_SPACE_CODES.has(errno) ? 'E_CAPACITY' : 'E_DISK';
  return new CairnError(code, `${operation} failed: ${errno}`, { ...details, errno });
}
