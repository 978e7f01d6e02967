import { createHash } from 'node:crypto';
import { HashingThread } from './hashing-thread';

/**
 * A SHA-256 over bytes given in order, as a put computes its whole file's: `update` resolves once the
 * bytes are hashed (from then on their buffer may be reused), `digest` gives the hex hash, and `close`
 * frees whatever it holds (always call it, whether or not `digest` was reached).
 */
export interface RunningSha256 {
  update(bytes: Uint8Array): Promise<void>;
  digest(): Promise<string>;
  close(): void;
}

/**
 * A put or get of a file from this size on hashes it on a thread of its own (`BackgroundSha256`):
 * below it, the thread's start (~20 ms, a few MiB) costs more than it saves.
 */
export const HASH_ON_THREAD_FROM = 64 * 1024 * 1024;

/**
 * The whole-file hash for a file of `size` bytes: on a thread for a big one, else here (and here too
 * where no thread can be started, e.g. under a permission model that forbids workers).
 */
export function wholeFileSha256(size: number): RunningSha256 {
  if (size < HASH_ON_THREAD_FROM) return inlineSha256();
  try {
    return new BackgroundSha256();
  } catch {
    return inlineSha256();
  }
}

/** On the caller's thread: each update is hashed before it returns. */
export function inlineSha256(): RunningSha256 {
  const hash = createHash('sha256');
  return {
    update(bytes) {
      hash.update(bytes);
      return Promise.resolve();
    },
    digest: () => Promise.resolve(hash.digest('hex')),
    close: () => undefined,
  };
}

/**
 * On a thread of its own (hashing-thread.ts), so that a big put's main thread hashes each chunk once
 * (its name) instead of twice (then the whole file): that main thread is the longest path of a put
 * (docs/performance.md). A get of a file without a manifest hash checks its whole SHA-256 this way too.
 * Bytes in a SharedArrayBuffer are read where they lie: leave them untouched until their update resolves.
 */
export class BackgroundSha256 implements RunningSha256 {
  private readonly thread = new HashingThread();
  private digested = false;

  update(bytes: Uint8Array): Promise<void> {
    if (this.digested) return Promise.reject(new Error('the hash was already digested'));
    return this.thread.request({ bytes }).then(() => undefined);
  }

  async digest(): Promise<string> {
    if (this.digested) throw new Error('the hash was already digested');
    this.digested = true;
    const digest = await this.thread.request({});
    if (digest === undefined) throw new Error('the hashing thread gave no digest');
    return digest;
  }

  close(): void {
    this.thread.close(new Error('the hash was closed'));
  }
}
