import { lstatSync, type Stats } from 'node:fs';
import { link, rename, unlink, utimes } from 'node:fs/promises';
import { CairnError, MAX_CHUNK_SIZE, isCairnError } from '@cairn/protocol';
import { throwIfAborted } from './abort';
import type { CapacityLedger } from './capacity';
import { assertChunkHash, type ChunkHash } from './chunk-hash';
import { RECLAIM_CLOCK_MARGIN_MS, type AbortOptions, type ChunkStore, type ChunkStoreStats, type GetOptions, type ListedChunk, type PutResult, type ReclaimOptions, type ReclaimResult } from './chunk-store';
import { walkChunkTree } from './chunk-tree';
import { BlankFiles } from './blank-files';
import { asCorruptChunk, errnoOf, isMissing, isNoChunkFile, isUnreadableCopy, toDiskError } from './disk-errors';
import { ensureDirectory, fsyncDirectory } from './durable-write';
import { HashLocks } from './hash-locks';
import { RecentHashes } from './recent-hashes';
import { readSmallChunk } from './small-reads';
import { THREAD_LOST, IoThreads } from './io-threads';
import type { ChunkLayout } from './layout';
import { verifyChunkContent } from './verify-content';

/**
 * Chunks bigger than this are written and read past the page cache (O_DIRECT, io-threads.ts): copying
 * them into fresh cache pages was the largest cost of a big put, and the cache's share of a cold read.
 * Smaller ones stay cached: small files are the ones read again soon, and for them the copy is nothing
 * next to the fsyncs.
 */
const DIRECT_IO_ABOVE_BYTES = 256 * 1024;
/** Big chunks served lately that the store remembers (`recentReads`). */
const RECENT_READS_REMEMBERED = 4096;
/**
 * Replaced or removed chunks the store remembers (`replacedCopies`): ~2 MiB at most. The race it guards
 * against lasts from one read to the quarantine that follows it (milliseconds, or a wait for the
 * chunk's lock), so it only has to cover that many removals and replacements in between.
 */
const REPLACED_COPIES_REMEMBERED = 16_384;

/**
 * The ChunkStore on a local file system. Built by `openChunkStore`, which prepares the directories
 * and counts what is stored; this class keeps the counters right from then on.
 *
 * Concurrency: put and delete of one hash are serialised by `HashLocks`; reads take no lock, since a
 * chunk file appears whole (by an atomic rename, or a link to a blank already filled) and an open file
 * survives its unlink. So a copy found bad by a read may have been replaced by the time it is
 * quarantined: `quarantine` reads such a copy again under the lock (`replacedCopies`).
 */
export class FsChunkStore implements ChunkStore {
  private readonly locks = new HashLocks();
  /** Chunks are written and read by threads of their own, in one round trip each (io-threads.ts). */
  private readonly ioThreads = new IoThreads();
  /**
   * The big chunks served lately, to tell a chunk read once (a big file streamed) from one read again (a
   * hot file). The first kind is read past the page cache, which costs the kernel a sixth of a cached
   * read and evicts nothing; the second through it, so that it is served from memory while it stays hot.
   */
  private readonly recentReads = new RecentHashes(RECENT_READS_REMEMBERED);
  /**
   * The chunks whose file this store lately replaced (a re-put over a copy that was not those bytes) or
   * removed (delete, reclaim, quarantine). Readers find a copy bad without the chunk's lock, so by the
   * time that leads to `quarantine` the file at the chunk's path may be another one: a re-put may have
   * put good bytes there, or a delete and a fresh put. For a chunk noted here `quarantine` reads the
   * file again under the lock and leaves it if it verifies; any other still has the file the store found
   * at open or wrote into an empty path, the one any reader found bad.
   */
  private readonly replacedCopies = new RecentHashes(REPLACED_COPIES_REMEMBERED);
  private readonly blanks: BlankFiles;
  private closed = false;

  constructor(
    private readonly layout: ChunkLayout,
    private readonly ledger: CapacityLedger,
  ) {
    this.blanks = new BlankFiles(layout, this.ioThreads);
  }

  get dir(): string {
    return this.layout.root;
  }

  async put(hash: ChunkHash, data: Uint8Array, opts: AbortOptions = {}): Promise<PutResult> {
    this.assertOpen();
    assertChunkHash(hash);
    throwIfAborted(opts.signal);
    // Verified even when the chunk is present: a sender of bad bytes must hear about it.
    verifyChunkContent(hash, data);
    return this.locks.run(hash, () => this.storeIfAbsent(hash, data, opts.signal), opts.signal);
  }

  lendReceiveBuffer(headBytes: number, chunkBytes: number): Buffer | undefined {
    // Only chunks written past the page cache, from a slot: a small one is cheap to copy, and slots are few.
    if (this.closed || chunkBytes <= DIRECT_IO_ABOVE_BYTES) return undefined;
    return this.ioThreads.lendForReceive(headBytes, chunkBytes);
  }

  lendReadBuffer(): Buffer | undefined {
    return this.closed ? undefined : this.ioThreads.lendForRead();
  }

  returnLentBuffer(bytes: Uint8Array): boolean {
    return this.ioThreads.giveBack(bytes);
  }

  async get(hash: ChunkHash, opts: GetOptions = {}): Promise<Buffer> {
    this.assertOpen();
    assertChunkHash(hash);
    throwIfAborted(opts.signal);
    return this.read(hash, opts);
  }

  /** `get` past its checks: takes no lock, so it also serves `quarantine`, which runs under the chunk's. */
  private async read(hash: ChunkHash, opts: GetOptions): Promise<Buffer> {
    try {
      const { signal, into, check = false } = opts;
      const verify = check || opts.verify !== false;
      const file = this.layout.locate(hash).file;
      // A small chunk served is read here, not on an I/O thread (small-reads.ts); a check (a scrub's,
      // which reads every chunk, mostly cold) never blocks the event loop on the disk.
      const small = check ? undefined : readSmallChunk(file, hash, into, verify);
      if (small) return small;
      // A big chunk served again lately is read through the cache, where it then stays while it is hot.
      const directAbove = !check && this.recentReads.has(hash) ? Infinity : DIRECT_IO_ABOVE_BYTES;
      const data = await this.ioThreads.readChunk(file, hash, MAX_CHUNK_SIZE, { signal, into, directAbove, verify });
      const mayGoPast = data.length > DIRECT_IO_ABOVE_BYTES && data.length <= this.ioThreads.slotBytes;
      if (!check && mayGoPast) this.recentReads.add(hash);
      return data;
    } catch (err) {
      // A FIFO or a link at the chunk's path is no chunk, as `has` says (isNoChunkFile).
      if (isNoChunkFile(err)) throw new CairnError('E_NOT_FOUND', `chunk ${hash} is not stored here`, { hash });
      throw asCorruptChunk(err, hash) ?? toDiskError(err, `reading chunk ${hash}`, { hash });
    }
  }

  async has(hash: ChunkHash): Promise<boolean> {
    this.assertOpen();
    assertChunkHash(hash);
    return this.sizeOnDisk(hash) !== undefined;
  }

  async touch(hash: ChunkHash): Promise<void> {
    this.assertOpen();
    assertChunkHash(hash);
    await this.locks.run(hash, async () => {
      if (this.sizeOnDisk(hash) === undefined) throw new CairnError('E_NOT_FOUND', `chunk ${hash} is not stored here`, { hash });
      await this.refreshAge(hash);
    });
  }

  async delete(hash: ChunkHash): Promise<boolean> {
    this.assertOpen();
    assertChunkHash(hash);
    return this.locks.run(hash, () => this.removeIfPresent(hash));
  }

  async reclaim(hash: ChunkHash, { keepIfModifiedSince }: ReclaimOptions): Promise<ReclaimResult> {
    this.assertOpen();
    assertChunkHash(hash);
    return this.locks.run(hash, async () => {
      const modified = this.modifiedAt(hash);
      if (modified === undefined) return 'absent';
      if (modified >= keepIfModifiedSince - RECLAIM_CLOCK_MARGIN_MS) return 'kept';
      return (await this.removeIfPresent(hash)) ? 'deleted' : 'absent';
    });
  }

  async quarantine(hash: ChunkHash): Promise<boolean> {
    this.assertOpen();
    assertChunkHash(hash);
    return this.locks.run(hash, async () => {
      const size = this.sizeOnDisk(hash);
      if (size === undefined) return false;
      // The caller found the copy bad without this lock. Where a put has since replaced the file (or a
      // delete and a put have), the file here may be a good one, acknowledged: it is left if it verifies.
      if (this.replacedCopies.has(hash) && (await this.verifies(hash))) return false;
      const location = this.layout.locate(hash);
      try {
        await ensureDirectory(this.layout.quarantineDir);
        await this.blanks.forget(location.file);
        await rename(location.file, this.layout.quarantineFileFor(hash, Date.now()));
        await fsyncDirectory(location.dir);
        await fsyncDirectory(this.layout.quarantineDir);
      } catch (err) {
        if (isMissing(err)) return false;
        throw toDiskError(err, `quarantining chunk ${hash}`, { hash });
      }
      this.replacedCopies.add(hash);
      this.ledger.removed(size);
      return true;
    });
  }

  async *list(opts: AbortOptions = {}): AsyncIterable<ListedChunk> {
    this.assertOpen();
    throwIfAborted(opts.signal);
    try {
      yield* walkChunkTree(this.layout, opts.signal);
    } catch (err) {
      throw toDiskError(err, 'listing chunks', {});
    }
  }

  stats(): ChunkStoreStats {
    return this.ledger.stats();
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.locks.drain();
    await this.blanks.close();
    await this.ioThreads.close();
  }

  /** Runs under the hash's lock: a concurrent put of the same hash has finished by now. */
  private async storeIfAbsent(hash: ChunkHash, data: Uint8Array, signal?: AbortSignal): Promise<PutResult> {
    const present = this.sizeOnDisk(hash);
    if (present !== undefined) {
      if (await this.holdsExactly(hash, data)) {
        await this.refreshAge(hash);
        return { stored: false };
      }
      // The copy on disk is not these bytes (it rotted, or cannot be read): acknowledging the put
      // would count a copy that is not there. The bytes in hand (checked against the hash by `put`)
      // replace it below, by the same durable write as any put: its rename swaps the files at once,
      // and a write that fails leaves the old copy where it was. A link in quarantine keeps it as
      // evidence, as a scrub would.
    }
    // Over a copy already counted, only what the chunk grows by needs room.
    const reserved = present === undefined ? data.length : Math.max(0, data.length - present);
    this.ledger.reserve(reserved);
    if (present !== undefined) {
      this.replacedCopies.add(hash); // a reader may have found the copy replaced here bad
      await this.linkIntoQuarantine(hash); // once the room is there: a refused put leaves none
    }
    const location = this.layout.locate(hash);
    // A fresh chunk goes into a blank, whose name is durable already (blank-files.ts); a replacement
    // is renamed over the copy it replaces, from a temp file. So is an empty chunk: an empty blank is
    // a spare to the next open, which would remove it.
    const blankPath = present === undefined && data.length > 0 ? this.blanks.take() : undefined;
    const tempPath = blankPath === undefined ? this.layout.tempFileFor(hash) : undefined;
    try {
      const direct = data.length > DIRECT_IO_ABOVE_BYTES;
      const { settled } = await this.ioThreads.write({ tempPath, blankPath, finalPath: location.file, data, signal, direct }).catch(async (err: unknown) => {
        if (blankPath !== undefined) await this.blanks.spoiled(blankPath);
        // A thread lost mid-write may have renamed the file (or linked the blank) without fsyncing
        // its directory: remove it, or a later put of this chunk would find it and acknowledge what
        // may not be durable.
        if (errnoOf(err) === THREAD_LOST) await unlink(location.file).catch(() => undefined);
        throw err;
      });
      if (!settled) this.blanks.filled(blankPath!, location.file, location.dir);
    } catch (err) {
      this.ledger.release(reserved);
      if (present !== undefined && this.isGone(hash)) this.ledger.removed(present); // a lost thread's file removed
      throw toDiskError(err, `writing chunk ${hash}`, { hash });
    }
    if (present === undefined) this.ledger.commit(data.length);
    else this.ledger.replaced(reserved, present, data.length);
    return { stored: true };
  }

  /**
   * Runs under the hash's lock, so two deletes of one chunk cannot both count it gone. The directory
   * is fsynced so that an acknowledged delete does not come back after a power cut.
   */
  private async removeIfPresent(hash: ChunkHash): Promise<boolean> {
    const size = this.sizeOnDisk(hash);
    if (size === undefined) return false;
    const location = this.layout.locate(hash);
    try {
      await this.blanks.forget(location.file);
      await unlink(location.file);
    } catch (err) {
      if (isMissing(err)) return false;
      throw toDiskError(err, `deleting chunk ${hash}`, { hash });
    }
    this.replacedCopies.add(hash); // a put may bring a good copy back to where a reader found a bad one
    this.ledger.removed(size);
    try {
      await fsyncDirectory(location.dir);
    } catch (err) {
      throw toDiskError(err, `deleting chunk ${hash}`, { hash });
    }
    return true;
  }

  /**
   * Whether the chunk's file holds exactly `data`: a re-put compares the bytes it was given with the
   * copy on disk (a read and a comparison, no hash), on the rare put of a chunk already stored. False
   * when they differ, or the copy is corrupt, unreadable or gone; any other read failure is thrown.
   */
  private async holdsExactly(hash: ChunkHash, data: Uint8Array): Promise<boolean> {
    const file = this.layout.locate(hash).file;
    try {
      const stored =
        readSmallChunk(file, hash, undefined, false) ??
        (await this.ioThreads.readChunk(file, hash, MAX_CHUNK_SIZE, { directAbove: DIRECT_IO_ABOVE_BYTES, verify: false }));
      return Buffer.compare(stored, data) === 0;
    } catch (err) {
      // Only what says the copy is bad (or gone) makes it one to replace; a process limit (EMFILE)
      // or a lost thread says nothing of it, and fails the put instead.
      const finding = asCorruptChunk(err, hash) ?? toDiskError(err, `reading chunk ${hash}`, { hash });
      if (isNoChunkFile(err) || isUnreadableCopy(finding)) return false;
      throw finding;
    }
  }

  /**
   * Whether the chunk's file reads back whole and hashes to its name, read as a scrub reads it (past the
   * page cache for a big one). False when it does not, when the disk cannot read it (EIO and the like:
   * such a copy stays one to quarantine) or when it is gone; any other failure (EMFILE, say) says
   * nothing of the copy and is thrown.
   */
  private async verifies(hash: ChunkHash): Promise<boolean> {
    try {
      await this.read(hash, { check: true });
      return true;
    } catch (err) {
      if (isUnreadableCopy(err) || isCairnError(err, 'E_NOT_FOUND')) return false;
      throw err;
    }
  }

  /** Whether the chunk's file is known to be gone; false when that cannot be told (the caller has an error to report already). */
  private isGone(hash: ChunkHash): boolean {
    try {
      return this.sizeOnDisk(hash) === undefined;
    } catch {
      return false;
    }
  }

  /** Best effort: a hard link to the chunk's file in quarantine (no copy), kept as evidence once the file is replaced. */
  private async linkIntoQuarantine(hash: ChunkHash): Promise<void> {
    try {
      await ensureDirectory(this.layout.quarantineDir);
      await link(this.layout.locate(hash).file, this.layout.quarantineFileFor(hash, Date.now()));
      await fsyncDirectory(this.layout.quarantineDir);
    } catch {
      // The copy is replaced all the same: repairing it matters more than keeping it.
    }
  }

  /** Garbage collection never reclaims a chunk an upload has just relied on (see `reclaim`). */
  private async refreshAge(hash: ChunkHash): Promise<void> {
    const now = new Date();
    await utimes(this.layout.locate(hash).file, now, now).catch((err) => {
      throw toDiskError(err, `touching chunk ${hash}`, { hash });
    });
  }

  private modifiedAt(hash: ChunkHash): number | undefined {
    return this.chunkFileStats(hash)?.mtimeMs;
  }

  /** The chunk file's size, or undefined when there is none. EIO and friends are `E_DISK`. */
  private sizeOnDisk(hash: ChunkHash): number | undefined {
    return this.chunkFileStats(hash)?.size;
  }

  /**
   * The chunk file's stats, or undefined when there is no regular file at its path. On the calling
   * thread, like small-reads.ts: one cached system call, where the thread pool's round trip costs two
   * wake-ups and, for the usual answer on a put (absent), an exception built with its stack.
   */
  private chunkFileStats(hash: ChunkHash): Stats | undefined {
    try {
      const stats = lstatSync(this.layout.locate(hash).file, { throwIfNoEntry: false });
      return stats?.isFile() ? stats : undefined;
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw toDiskError(err, `looking up chunk ${hash}`, { hash });
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new CairnError('E_UNAVAILABLE', 'the chunk store is closed');
  }
}
