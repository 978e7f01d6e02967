import type { ChunkHash } from './chunk-hash';

export interface ChunkStoreStats {
  /** Bytes of chunk data stored (the sum of chunk sizes, not file-system blocks). */
  used: number;
  /** Bytes the store may use; `put` refuses a chunk that would take `used` past it. */
  capacity: number;
  /** Number of distinct chunks stored. */
  chunks: number;
}

export interface PutResult {
  /** `true` if this call wrote the chunk; `false` if it was already present (a no-op). */
  stored: boolean;
}

/** Every long call can be cancelled; a cancelled call rejects with `E_ABORTED`. */
export interface AbortOptions {
  signal?: AbortSignal;
}

/** Options of `get`. */
export interface GetOptions extends AbortOptions {
  /**
   * Memory to read the chunk into: the chunk comes back as a view of it when it fits, so a server can
   * recycle one buffer per chunk in flight instead of leaving each read to the garbage collector. An
   * ArrayBuffer is handed over (detached from the caller); memory `lendReadBuffer` lent stays the
   * caller's to give back, whether the chunk came back in it or not.
   */
  into?: ArrayBuffer | Uint8Array;
  /**
   * A read that checks the chunk rather than serves it (a scrub, a claim's proof): it says nothing
   * about which chunks are hot, so a big chunk is read past the page cache whatever was read before,
   * and the read is not remembered as one of the chunks served lately.
   */
  check?: boolean;
  /**
   * False: hand the bytes out as they are on disk, without hashing them, for a reader that checks
   * every chunk against its hash itself and reports a bad copy (a node serving Cairn's clients and
   * nodes: docs/architecture.md, "The path of a get"). A chunk over the size limit, or that shrinks
   * while read, is still `E_CORRUPT`. Default true; a `check` always verifies.
   */
  verify?: boolean;
}

/** `absent`: there was nothing to delete; `kept`: too young, left in place. */
export type ReclaimResult = 'deleted' | 'absent' | 'kept';

export interface ReclaimOptions {
  /** Keep the chunk if it was written, re-put or touched at or after this time (epoch ms). */
  keepIfModifiedSince: number;
}

/**
 * How far before `keepIfModifiedSince` a chunk's file time may be and still count as modified since:
 * a new file's mtime comes from the kernel's coarse clock (up to a tick behind `Date.now()`), and
 * some file systems keep whole seconds only (ext4 with small inodes; FAT even two).
 */
export const RECLAIM_CLOCK_MARGIN_MS = 2_000;

export interface ListedChunk {
  hash: ChunkHash;
  size: number;
}

/**
 * A node's disk: content-addressed chunks, written durably and atomically, verified on every read.
 * Every method validates its hash argument and rejects a malformed one with `E_BAD_MESSAGE`.
 */
export interface ChunkStore {
  /** The directory the store lives in (absolute). */
  readonly dir: string;

  /**
   * Stores `data` under `hash`. Verifies sha256(data) === hash before anything becomes visible: a
   * mismatch rejects with `E_HASH_MISMATCH` and leaves nothing on disk. A chunk already present is
   * compared with `data` (read back, not hashed): the same bytes are a no-op (`{ stored: false }`, no
   * rewrite); a copy that differs or cannot be read (rot) is replaced by `data` (`{ stored: true }`;
   * the old file kept in quarantine as evidence), so an acknowledged put never counts a bad copy. Any
   * other failure to read it back (EMFILE, say) fails the put and leaves the copy as it is. Over capacity, ENOSPC or EDQUOT → `E_CAPACITY`;
   * other I/O failures → `E_DISK`. When the promise resolves the chunk is durable: temp file
   * written, fsynced, renamed into place, directory fsynced.
   */
  put(hash: ChunkHash, data: Uint8Array, opts?: AbortOptions): Promise<PutResult>;

  /**
   * Memory to receive a message into whose last `chunkBytes` bytes are a chunk to `put` (a data frame:
   * `headBytes` of header and grant, then the chunk): a put of exactly that part is then written from
   * where it was received, without a copy. Undefined when the store has none to lend (the chunk is too
   * small or too big for it, or too much is lent already): receive elsewhere. The memory must be given
   * back with `returnLentBuffer` once nothing reads it, and not written to while a put of it runs.
   */
  lendReceiveBuffer(headBytes: number, chunkBytes: number): Buffer | undefined;

  /**
   * Memory to read a chunk into (`GetOptions.into`) for a reader that sends it on from there: one of
   * the slots puts are written from, where a big chunk is read past the page cache without a copy, so
   * serving reads takes no memory of its own. Undefined when too much is lent already. Give it back with
   * `returnLentBuffer` once nothing reads the chunk.
   */
  lendReadBuffer(): Buffer | undefined;

  /** Takes back memory `lendReceiveBuffer` or `lendReadBuffer` lent (or any view into it); false for anything else. */
  returnLentBuffer(bytes: Uint8Array): boolean;

  /**
   * Reads a whole chunk, hashing while reading (one pass) unless `verify` is false. A hash mismatch
   * rejects with `E_CORRUPT` and never returns the bytes; an absent chunk rejects with `E_NOT_FOUND`;
   * EIO and every other failure reject with `E_DISK`. `into` offers memory to read into (an ArrayBuffer
   * given back by an earlier reader, see GetOptions): the chunk is then a view of it if it fits, else a
   * buffer of its own.
   */
  get(hash: ChunkHash, opts?: GetOptions): Promise<Buffer>;

  /** Whether a chunk file is present (its content is not verified). */
  has(hash: ChunkHash): Promise<boolean>;

  /**
   * Refreshes a present chunk's age, as a re-put does, without its bytes (a claim of a chunk this store
   * holds: garbage collection keeps it). An absent chunk rejects with `E_NOT_FOUND`.
   */
  touch(hash: ChunkHash): Promise<void>;

  /** Removes a chunk; resolves `false` if it was not there. */
  delete(hash: ChunkHash): Promise<boolean>;

  /**
   * Deletes a chunk unless it was written, re-put or touched at or after `keepIfModifiedSince`
   * (epoch ms; `Infinity`: no guard): garbage collection's guard against deleting a chunk an upload
   * has just written or claimed. The age is read under the chunk's lock, so a put or touch of the
   * chunk is either wholly before the check or after the delete (then it writes the chunk anew).
   * File times are compared with a margin (RECLAIM_CLOCK_MARGIN_MS) for the file system's clock.
   */
  reclaim(hash: ChunkHash, opts: ReclaimOptions): Promise<ReclaimResult>;

  /** Moves a chunk aside into the quarantine directory (not deleted); `false` if it was not there. */
  quarantine(hash: ChunkHash): Promise<boolean>;

  /** Streams every stored chunk by walking the fan-out directories; never holds the whole list. */
  list(opts?: AbortOptions): AsyncIterable<ListedChunk>;

  /** Counters kept in memory: computed by a scan at open and maintained by put and delete. */
  stats(): ChunkStoreStats;

  /** Waits for writes and deletes in progress, then refuses further calls (`E_UNAVAILABLE`). */
  close(): Promise<void>;
}

export interface ChunkStoreOptions {
  /** The store's directory; created (mode 0700) if missing. */
  dir: string;
  /** Bytes the store may use. Default: bytes already stored + free space of the file system. */
  capacity?: number;
}
