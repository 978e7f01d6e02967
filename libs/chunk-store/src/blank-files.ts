import { open, unlink } from 'node:fs/promises';
import { CHUNK_FILE_MODE, fsyncDirectory, unlinkIfPresent } from './durable-write';
import type { IoThreads } from './io-threads';
import type { ChunkLayout } from './layout';

/** Blanks made in one go, with one fsync of their directory; a refill starts when half are used. */
const BLANKS_PER_BATCH = 32;
/**
 * How long a filled blank's link waits to be made durable, so that the links of the writes around it
 * are made durable together, in one round trip to an I/O thread, each directory fsynced once for all
 * the links made in it. Nothing acknowledged depends on it: the bytes are durable under the blank's
 * name meanwhile. With 10 ms, 4 KiB puts gained about half as much (docs/performance-history.md,
 * "Changes of 27 Nov 2026, 20:30–22:00").
 */
const SETTLE_AFTER_MS = 200;
/** With this many links waiting, a settle starts at once instead of at the end of the wait. */
const SETTLE_AT_ONCE_FROM = 256;
/** Chunk directories fsynced per message to an I/O thread (~0.2–0.4 ms each here). */
const SETTLE_DIRS_PER_MESSAGE = 16;
/** After a refill failed (a full disk, a directory gone), how long puts go without blanks. */
const RETRY_REFILL_AFTER_MS = 1000;

interface Linked {
  /** The chunk's file, a link to the blank. */
  file: string;
  /** The chunk's directory, whose fsync makes the link durable. */
  dir: string;
}

/**
 * Empty files made in `blanks/`, and their names made durable (an fsync of that directory), ahead of
 * the writes that fill them. A chunk written into a blank is durable once the blank is fsynced: its
 * name survives a power cut already. The write then links it as the chunk's file and is acknowledged
 * without waiting for that directory's fsync, which for a small chunk was about half of its disk
 * time (docs/performance-history.md, "Changes of 27 Nov 2026, 20:30–22:00"). The links are made
 * durable here in the background, up to SETTLE_AFTER_MS later and for every write of that while at
 * once; only then is each blank's own name removed. If the process or the machine stops in between,
 * the next open links what the blanks hold to their names (leftover-blanks.ts).
 *
 * A put that finds no blank (the first ones, a burst faster than the refills, a disk that refuses new
 * files) writes through a temp file and renames it, as it always could.
 */
export class BlankFiles {
  private readonly spare: string[] = [];
  /** Filled blanks whose chunk's link waits for the next settle, by blank. */
  private readonly waiting = new Map<string, Linked>();
  /** Filled blanks being settled now on an I/O thread, by blank. */
  private readonly inFlight = new Map<string, Linked>();
  /**
   * Filled blanks a settle could not remove (their directory's fsync or their unlink failed), left for
   * the next open; still removed if their chunk is deleted, or it would come back from them.
   */
  private readonly stranded = new Map<string, Linked>();
  /** The blank each chunk's file was last linked from, while that blank is there. */
  private readonly blankOf = new Map<string, string>();
  private refilling: Promise<void> | undefined;
  private settling: Promise<void> | undefined;
  private settleTimer: NodeJS.Timeout | undefined;
  private refillNotBefore = 0;
  private closed = false;

  constructor(
    private readonly layout: ChunkLayout,
    private readonly io: Pick<IoThreads, 'settleLinks'>,
    private readonly perBatch = BLANKS_PER_BATCH,
    private readonly settleAfterMs = SETTLE_AFTER_MS,
  ) {}

  /** A blank to write a chunk into, now its own, or undefined (write through a temp file). */
  take(): string | undefined {
    if (this.closed) return undefined;
    const blank = this.spare.pop();
    if (this.spare.length <= this.perBatch / 2) this.refill();
    return blank;
  }

  /** Blanks ready to be taken. */
  get spareCount(): number {
    return this.spare.length;
  }

  /** Filled blanks whose chunk's link is not durable yet (or not known to be: stranded ones count). */
  get unsettledCount(): number {
    return this.waiting.size + this.inFlight.size + this.stranded.size;
  }

  /** `blank` was filled and linked as `file` (in `dir`); the link is made durable soon, then the blank removed. */
  filled(blank: string, file: string, dir: string): void {
    this.waiting.set(blank, { file, dir });
    this.blankOf.set(file, blank);
    if (this.waiting.size >= SETTLE_AT_ONCE_FROM && !this.settling) void this.settle();
    else this.settleTimer ??= setTimeout(() => void this.settle(), this.settleAfterMs).unref();
  }

  /**
   * A blank the write could not fill or link (or may have: a lost thread): removed, best effort; a
   * leftover is dealt with at the next open.
   */
  async spoiled(blank: string): Promise<void> {
    await this.removeAll([blank]);
  }

  /**
   * `file` is being deleted or moved away: its blank, if it still has one, is removed first, and that
   * removal made durable, so that a crash cannot bring the chunk back from it. Throws if it cannot be
   * (the caller's delete then fails).
   */
  async forget(file: string): Promise<void> {
    const blank = this.blankOf.get(file);
    if (blank === undefined) return;
    await unlinkIfPresent(blank);
    await fsyncDirectory(this.layout.blanksDir);
    // Only now: a delete that failed above finds the blank again when it is retried.
    if (this.blankOf.get(file) === blank) this.blankOf.delete(file);
    this.waiting.delete(blank);
    this.inFlight.delete(blank); // a settle under way finds it gone
    this.stranded.delete(blank);
  }

  /**
   * Makes every link made so far durable (one fsync per directory), then removes their blanks. Where
   * a directory's fsync fails, its blanks are left where they are for the next open to deal with (a
   * later fsync that succeeds would not prove the earlier writes reached the disk), and still removed
   * by `forget` if their chunk is deleted first.
   */
  async settle(): Promise<void> {
    clearTimeout(this.settleTimer);
    this.settleTimer = undefined;
    while (this.settling) await this.settling; // one at a time: what arrives meanwhile waits for the next
    if (this.waiting.size === 0) return;
    const batch = [...this.waiting];
    this.waiting.clear();
    for (const [blank, linked] of batch) this.inFlight.set(blank, linked);
    const settling = (this.settling = this.settleBatch(batch.map(([blank]) => blank)));
    try {
      await settling;
    } finally {
      if (this.settling === settling) this.settling = undefined;
    }
    if (this.waiting.size >= SETTLE_AT_ONCE_FROM) void this.settle();
  }

  /** Settles what is left and stops making blanks. Spare blanks stay; the next open removes them. */
  async close(): Promise<void> {
    this.closed = true;
    await this.refilling;
    await this.settle();
  }

  /**
   * Fsyncs the batch's chunk directories, removes the blanks of those fsynced, and fsyncs `blanks/`,
   * so that no removed blank comes back in a power cut (on ext4 without a journal nothing else orders
   * that removal before a later delete of the chunk): on an I/O thread, where it cost the event loop a
   * few thread-pool round trips per chunk. SETTLE_DIRS_PER_MESSAGE directories a message, so that a
   * write queued behind one waits for a few fsyncs at most. Never rejects.
   */
  private async settleBatch(blanks: string[]): Promise<void> {
    const byDir = new Map<string, string[]>();
    for (const blank of blanks) {
      const dir = this.inFlight.get(blank)?.dir;
      if (dir === undefined) continue;
      const inDir = byDir.get(dir);
      if (inDir) inDir.push(blank);
      else byDir.set(dir, [blank]);
    }
    const dirs = [...byDir];
    const removed = new Set<string>();
    for (let i = 0; i < dirs.length; i += SETTLE_DIRS_PER_MESSAGE) {
      const some = dirs.slice(i, i + SETTLE_DIRS_PER_MESSAGE);
      const done = await this.io.settleLinks(some.map(([dir]) => dir), some.map(([, inDir]) => inDir), this.layout.blanksDir).catch(() => []);
      for (const blank of done) removed.add(blank);
    }
    for (const blank of blanks) {
      const linked = this.inFlight.get(blank);
      if (!linked) continue; // forgotten meanwhile: removed by `forget`
      this.inFlight.delete(blank);
      if (removed.has(blank)) {
        if (this.blankOf.get(linked.file) === blank) this.blankOf.delete(linked.file);
      } else {
        this.stranded.set(blank, linked); // left on disk, or its removal not durable: the next open's
      }
    }
  }

  private refill(): void {
    if (this.refilling || Date.now() < this.refillNotBefore) return;
    this.refilling = this.makeBatch()
      .then(async (made) => {
        if (this.closed) await this.removeAll(made);
        else this.spare.push(...made);
      })
      .catch(() => {
        this.refillNotBefore = Date.now() + RETRY_REFILL_AFTER_MS;
      })
      .finally(() => {
        this.refilling = undefined;
      });
  }

  /** `perBatch` new empty files, and then their names made durable. */
  private async makeBatch(): Promise<string[]> {
    const made: string[] = [];
    try {
      for (let i = 0; i < this.perBatch; i++) {
        const path = this.layout.blankFile();
        await (await open(path, 'wx', CHUNK_FILE_MODE)).close();
        made.push(path);
      }
      await fsyncDirectory(this.layout.blanksDir);
      return made;
    } catch (err) {
      await this.removeAll(made);
      throw err;
    }
  }

  private async removeAll(blanks: string[]): Promise<void> {
    await Promise.all(blanks.map((blank) => unlink(blank).catch(() => undefined)));
  }
}

