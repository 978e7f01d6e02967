/** The registry's limits, in one place. */

/** Most rows one `fileChunks` or `listFiles` call returns: bounds controller memory per request. */
export const MAX_PAGE_ROWS = 10_000;

/**
 * Most chunks one open upload may hold that it has not recorded yet (`holdChunks`, `beginUpload`):
 * a hold is proof of nothing (a client may name any hash it knows), so it must not keep other
 * tenants' removed chunks from GC without end. A hold ends when its chunk is recorded for the upload
 * (the recorded chunk is the reference from then on), so a legitimate upload holds about its window
 * plus one batch of stored-chunk records (8 + 64 with the SDK's defaults) at a time, however big
 * its file; this is far above that, and bounds `upload_holds` at this many rows per open upload.
 */
export const MAX_UPLOAD_HOLDS = 4_096;

/** How long a SQLite write waits for another connection's lock before failing with E_UNAVAILABLE. */
export const SQLITE_BUSY_TIMEOUT_MS = 5_000;

/** Chunk and file hashes: lowercase hex SHA-256, the form used in chunk file names on disk. */
export const SHA256_HEX = /^[0-9a-f]{64}$/;
