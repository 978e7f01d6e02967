import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { ChunkHash } from './chunk-hash';

/** Hex characters per fan-out level: two levels of 256 directories each (65 536 leaves). */
const FAN_OUT_WIDTH = 2;
/** Random bytes in a temp file's name, so concurrent writers of one hash never share a temp file. */
const TEMP_SUFFIX_BYTES = 8;
export const TEMP_EXTENSION = '.tmp';

const FAN_OUT_NAME_PATTERN = /^[0-9a-f]{2}$/;

/** Where a chunk lives: its two fan-out directories and its file. */
export interface ChunkLocation {
  /** `<root>/chunks/<hash[0..2]>` */
  outerDir: string;
  /** `<root>/chunks/<hash[0..2]>/<hash[2..4]>`, the directory that holds the file. */
  innerDir: string;
  /** `<innerDir>/<hash>`: the file name is the full hex hash (DESIGN invariant 3). */
  file: string;
}

/**
 * The on-disk shape of a store, and nothing else (no I/O here):
 *
 *     <root>/chunks/ab/cd/abcd…(64 hex)   one file per chunk, named by its full hash
 *     <root>/tmp/<hash>.<random>.tmp      writes in progress; never served, deleted at open
 *
 * Two levels of fan-out keep every directory small (a million chunks is ~15 files per leaf).
 */
export class ChunkLayout {
  readonly chunksDir: string;
  readonly tmpDir: string;
  /** Chunks found bad are moved here (never served, never listed), for an operator to inspect. */
  readonly quarantineDir: string;

  constructor(readonly root: string) {
    this.chunksDir = join(root, 'chunks');
    this.tmpDir = join(root, 'tmp');
    this.quarantineDir = join(root, 'quarantine');
  }

  quarantineFileFor(hash: ChunkHash, at: number): string {
    return join(this.quarantineDir, `${hash}.${at}`);
  }

  locate(hash: ChunkHash): ChunkLocation {
    const outerDir = join(this.chunksDir, hash.slice(0, FAN_OUT_WIDTH));
    const innerDir = join(outerDir, hash.slice(FAN_OUT_WIDTH, 2 * FAN_OUT_WIDTH));
    return { outerDir, innerDir, file: join(innerDir, hash) };
  }

  /** A fresh, unique temp path for a write of `hash`. */
  tempFileFor(hash: ChunkHash): string {
    const suffix = randomBytes(TEMP_SUFFIX_BYTES).toString('hex');
    return join(this.tmpDir, `${hash}.${suffix}${TEMP_EXTENSION}`);
  }

  /** Whether a directory entry name can be a fan-out directory (`00`…`ff`). */
  isFanOutName(name: string): boolean {
    return FAN_OUT_NAME_PATTERN.test(name);
  }

  /** Whether a chunk named `hash` belongs in the fan-out directories `outer`/`inner`. */
  belongsIn(hash: ChunkHash, outer: string, inner: string): boolean {
    return (
      hash.slice(0, FAN_OUT_WIDTH) === outer &&
      hash.slice(FAN_OUT_WIDTH, 2 * FAN_OUT_WIDTH) === inner
    );
  }
}
