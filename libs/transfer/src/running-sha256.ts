import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';

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
const HASH_ON_THREAD_FROM = 64 * 1024 * 1024;

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
 * The hashing thread: plain CommonJS, evaluated as the worker's source (no file to bundle). Messages
 * come in order; each is answered once hashed.
 */
const THREAD_SOURCE = `
const { parentPort } = require('node:worker_threads');
const hash = require('node:crypto').createHash('sha256');
parentPort.on('message', ({ bytes }) => {
  if (bytes) {
    hash.update(bytes);
    parentPort.postMessage({});
  } else {
    parentPort.postMessage({ digest: hash.digest('hex') });
  }
});
`;

/**
 * On a thread of its own, so that a big transfer's main thread hashes each chunk once (its name, or its
 * check on a get) instead of twice (then the whole file): that main thread is the longest path of a put
 * and, since nodes serve chunks unhashed, of a get (docs/performance.md).
 *
 * Bytes in a SharedArrayBuffer reach the thread without a copy, which is why the caller must not touch
 * them until their update resolves; any other bytes are copied into the message. Starting the thread
 * costs ~20 ms and a few MiB, so it pays for big files only.
 */
export class BackgroundSha256 implements RunningSha256 {
  private readonly worker = new Worker(THREAD_SOURCE, { eval: true });
  /** Updates and then the digest, answered in the order they were sent. */
  private readonly waiting: Array<{ resolve: (digest?: string) => void; reject: (err: Error) => void }> = [];
  private failure: Error | undefined;
  private digested = false;

  constructor() {
    this.worker.on('message', ({ digest }: { digest?: string }) => {
      this.waiting.shift()?.resolve(digest);
      if (this.waiting.length === 0) this.worker.unref();
    });
    this.worker.on('error', (err) => this.fail(new Error(`the hashing thread failed: ${err.message}`)));
    this.worker.on('exit', () => this.fail(new Error('the hashing thread exited')));
    // The thread keeps the process alive only while an answer is awaited: a reader that leaves a big
    // get without ending it (no `return()`), its client closed, must not hang its process.
    this.worker.unref();
  }

  update(bytes: Uint8Array): Promise<void> {
    if (this.digested) return Promise.reject(new Error('the hash was already digested'));
    return this.send({ bytes }).then(() => undefined);
  }

  async digest(): Promise<string> {
    if (this.digested) throw new Error('the hash was already digested');
    this.digested = true;
    const digest = await this.send({});
    if (digest === undefined) throw new Error('the hashing thread gave no digest');
    return digest;
  }

  close(): void {
    this.fail(new Error('the hash was closed'));
    void this.worker.terminate();
  }

  private send(message: { bytes?: Uint8Array }): Promise<string | undefined> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      // Posted first: a message that cannot be posted (bytes that cannot be cloned) must not leave a
      // waiter behind, which would take the next answer and shift every later one.
      this.worker.postMessage(message);
      if (this.waiting.length === 0) this.worker.ref();
      this.waiting.push({ resolve, reject });
    });
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const waiter of this.waiting.splice(0)) waiter.reject(this.failure);
    this.worker.unref();
  }
}
