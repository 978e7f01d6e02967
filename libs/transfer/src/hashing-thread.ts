import { Worker } from 'node:worker_threads';

/**
 * What a hashing thread is asked, answered in the order asked:
 * - `{ bytes }`: add `bytes` to the running SHA-256 (answer: nothing);
 * - `{}`: the running SHA-256's hex digest (answer: `digest`);
 * - `{ bytes, alone: true }`: the hex SHA-256 of `bytes` alone, the running hash untouched.
 */
export interface HashingRequest {
  bytes?: Uint8Array;
  alone?: boolean;
}

/** Plain CommonJS, evaluated as the worker's source (no file to bundle). */
const THREAD_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const running = createHash('sha256');
parentPort.on('message', ({ bytes, alone }) => {
  if (alone) {
    parentPort.postMessage({ digest: createHash('sha256').update(bytes).digest('hex') });
  } else if (bytes) {
    running.update(bytes);
    parentPort.postMessage({});
  } else {
    parentPort.postMessage({ digest: running.digest('hex') });
  }
});
`;

/**
 * A thread that computes SHA-256s for its owner (running-sha256.ts, chunk-digests.ts), so that a big
 * transfer's main thread is free to move bytes while another core hashes them.
 *
 * Bytes in a SharedArrayBuffer reach the thread without a copy, which is why the caller must not touch
 * them until their request resolves; any other bytes are copied into the message. Starting the thread
 * costs ~20 ms and a few MiB, so it pays for big transfers only. It keeps the process alive only while
 * an answer is awaited: a reader that leaves a big get without ending it (no `return()`), its client
 * closed, must not hang its process.
 */
export class HashingThread {
  private readonly worker = new Worker(THREAD_SOURCE, { eval: true });
  /** Requests in the order they were sent, which is the order of the answers. */
  private readonly waiting: Array<{ resolve: (digest?: string) => void; reject: (err: Error) => void }> = [];
  private failure: Error | undefined;

  constructor() {
    this.worker.on('message', ({ digest }: { digest?: string }) => {
      this.waiting.shift()?.resolve(digest);
      if (this.waiting.length === 0) this.worker.unref();
    });
    this.worker.on('error', (err) => this.fail(new Error(`the hashing thread failed: ${err.message}`)));
    this.worker.on('exit', () => this.fail(new Error('the hashing thread exited')));
    this.worker.unref();
  }

  /** Resolves with the request's answer: a digest, or undefined for an update. */
  request(message: HashingRequest): Promise<string | undefined> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      // Posted first: a message that cannot be posted (bytes that cannot be cloned) must not leave a
      // waiter behind, which would take the next answer and shift every later one.
      this.worker.postMessage(message);
      if (this.waiting.length === 0) this.worker.ref();
      this.waiting.push({ resolve, reject });
    });
  }

  /** Fails what is waiting and everything after with `reason`, and ends the thread. */
  close(reason: Error): void {
    this.fail(reason);
    void this.worker.terminate();
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const waiter of this.waiting.splice(0)) waiter.reject(this.failure);
    this.worker.unref();
  }
}
