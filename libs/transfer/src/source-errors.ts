import { CairnError, isCairnError } from '@cairn/protocol';
import { localFileError } from './local-errors';

/** What a put says of a file that is not there: `no such file`, not the system's `no such file or directory`. */
const NO_FILE = { ENOENT: 'no such file' };

/**
 * A put's chunks with the failures of its source as CairnErrors, whenever they come (at the first
 * chunk or the hundredth), so that no caller meets a raw Node error or a source's failure taken for a
 * bug (E_INTERNAL) further on:
 * - a file on disk (`path`): as `localFileError` says (E_NOT_FOUND, E_USAGE for a directory, E_DISK);
 * - a stream or iterable of the caller's: E_ABORTED, "the source failed: …", the error as `cause`
 *   (an HTTP body cut off, a stream destroyed early). A CairnError of the source's own passes as it is.
 */
export async function* sourceErrors(chunks: AsyncIterable<Buffer>, path: string | undefined): AsyncGenerator<Buffer> {
  try {
    yield* chunks;
  } catch (err) {
    if (isCairnError(err)) throw err;
    if (path !== undefined) throw localFileError(err, `read ${path}`, NO_FILE);
    const message = err instanceof Error ? err.message : String(err);
    throw new CairnError('E_ABORTED', `the source failed: ${message}`, { cause: err });
  }
}
