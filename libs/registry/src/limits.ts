/** The registry's limits, in one place. */

/** Most rows one `fileChunks` or `listFiles` call returns: bounds controller memory per request. */
export const MAX_PAGE_ROWS = 10_000;

/** How long a SQLite write waits for another connection's lock before failing with E_UNAVAILABLE. */
export const SQLITE_BUSY_TIMEOUT_MS = 5_000;

/** Chunk and file hashes: lowercase hex SHA-256, the form used in chunk file names on disk. */
export const SHA256_HEX = /^[0-9a-f]{64}$/;
