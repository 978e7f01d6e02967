import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { ChunkHash } from './chunk-hash';

/** Hex characters of the one fan-out level: 256 directories. */
const FAN_OUT_WIDTH = 2;
const FAN_OUT_COUNT = 16 ** FAN_OUT_WIDTH;
/** Random bytes that name this layout's temp files apart from those of any other process. */
const TEMP_PREFIX_BYTES = 8;
export const TEMP_EXTENSION = '.tmp';

const FAN_OUT_NAME_PATTERN = /^[0-9a-f]{2}$/;

/** Where a chunk lives: its fan-out directory and its file. */
export interface ChunkLocation {
  /** `<root>/chunks/<hash[0..2]>`, the directory that holds the file. */
  dir: string;
  /** `<dir>/<hash>`: the file name is the full hex hash (DESIGN invariant 3). */
  file: string;
}

/** Where a store rooted at `root` keeps its chunk files (`<root>/chunks`), for whoever must look there. */
export function chunksDirOf(root: string): string {
  return join(root, 'chunks');
}

/**
 * The on-disk shape of a store, and nothing else (no I/O here):
 *
 *     <root>/chunks/ab/abcd…(64 hex)   one file per chunk, named by its full hash
 *     <root>/tmp/<hash>.<unique>.tmp   writes in progress; never served, deleted at open
 *     <root>/blanks/<unique>           empty files made ahead for writes to fill (blank-files.ts)
 *     <root>/quarantine/<hash>.<ms>.<unique>   copies found bad, kept for the operator; never served
 *
 * One level of 256 directories, all made when the store opens, so that no put ever creates a
 * directory: a new directory costs the put a mkdir and an fsync of its parent, which for a small chunk
 * was a third of its disk work (a second level of 256 under each, as stores had before, meant a new
 * directory for almost every chunk of a young store). A million chunks is ~4000 files a directory,
 * which a hashed directory index (ext4, XFS) looks up as fast as 15. Stores of the two-level shape are
 * moved to this one when opened (legacy-layout.ts).
 */
export class ChunkLayout {
  readonly chunksDir: string;
  readonly tmpDir: string;
  /** Empty files made durable ahead of the writes that fill them (blank-files.ts); never served. */
  readonly blanksDir: string;
  /** Chunks found bad are moved here (never served, never listed), for an operator to inspect. */
  readonly quarantineDir: string;
  /**
   * Temp, blank and quarantine names end in this random prefix and a counter: unique within the
   * process, and apart from any other's (temps and blanks are created with O_EXCL besides). Random
   * bytes on every write cost a put of a small chunk a call into OpenSSL's generator, which `perf`
   * showed at ~7% of a node's main thread.
   */
  private readonly tempPrefix = randomBytes(TEMP_PREFIX_BYTES).toString('hex');
  private tempCount = 0;

  constructor(readonly root: string) {
    this.chunksDir = chunksDirOf(root);
    this.tmpDir = join(root, 'tmp');
    this.blanksDir = join(root, 'blanks');
    this.quarantineDir = join(root, 'quarantine');
  }

  /**
   * A fresh name for a copy of `hash` set aside at `at` (epoch ms): `<hash>.<ms>.<unique>`, the unique
   * part as a temp name's. The time alone collided for two copies of one chunk set aside in the same
   * millisecond (a re-put's link, then a quarantine), and the rename of the second replaced the first.
   */
  quarantineFileFor(hash: ChunkHash, at: number): string {
    return join(this.quarantineDir, `${hash}.${at}.${this.uniqueSuffix()}`);
  }

  locate(hash: ChunkHash): ChunkLocation {
    const dir = join(this.chunksDir, hash.slice(0, FAN_OUT_WIDTH));
    return { dir, file: join(dir, hash) };
  }

  /** Every fan-out directory (`chunks/00` … `chunks/ff`). */
  fanOutDirs(): string[] {
    return Array.from({ length: FAN_OUT_COUNT }, (_, i) => join(this.chunksDir, i.toString(16).padStart(FAN_OUT_WIDTH, '0')));
  }

  /** A fresh, unique temp path for a write of `hash`. */
  tempFileFor(hash: ChunkHash): string {
    return join(this.tmpDir, `${hash}.${this.uniqueSuffix()}${TEMP_EXTENSION}`);
  }

  /** A fresh, unique path for a blank file. */
  blankFile(): string {
    return join(this.blanksDir, this.uniqueSuffix());
  }

  /** This layout's random prefix and the next count: never the same twice, nor another process's. */
  private uniqueSuffix(): string {
    return `${this.tempPrefix}${(this.tempCount++).toString(36)}`;
  }

  /** Whether a directory entry name can be a fan-out directory (`00`…`ff`). */
  isFanOutName(name: string): boolean {
    return FAN_OUT_NAME_PATTERN.test(name);
  }

  /** Whether a chunk named `hash` belongs in the fan-out directory named `dir`. */
  belongsIn(hash: ChunkHash, dir: string): boolean {
    return hash.slice(0, FAN_OUT_WIDTH) === dir;
  }

  /** Whether a chunk named `hash` belonged in `outer/inner` of the former two-level shape. */
  belongedIn(hash: ChunkHash, outer: string, inner: string): boolean {
    return this.belongsIn(hash, outer) && hash.slice(FAN_OUT_WIDTH, 2 * FAN_OUT_WIDTH) === inner;
  }
}
