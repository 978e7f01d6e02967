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

/**
 * Shared memory the hashing thread takes in before it collects its garbage (see THREAD_SOURCE): about
 * the most of the chunks it has hashed that it may keep alive. A collection costs the thread ~40 µs:
 * after each 4 MiB chunk that was ~1% of its time on a big get, after each 16 MiB it is ~0.3%.
 */
export const COLLECT_AFTER_SHARED_BYTES = 16 * 1024 * 1024;

/**
 * Plain CommonJS, evaluated as the worker's source (no file to bundle).
 *
 * Each SharedArrayBuffer posted here becomes an object of this thread's heap that keeps its memory
 * alive until this thread's collector frees it, and V8 counts shared memory towards no thread's heap,
 * so nothing here ever asks for a collection: the heap of a thread that only hashes barely grows. A
 * get whose reader does not recycle its chunks receives each into a SharedArrayBuffer of its own, and
 * every one of them stayed alive until the get ended and the thread with it, whatever the reader kept
 * (a 300 MiB get held ~250 MiB; invariant 5). So once COLLECT_AFTER_SHARED_BYTES of shared memory have
 * come in, the thread collects its young generation at the end of its turn (a scavenge of a near-empty
 * heap), which frees them: none of them is reachable by then.
 */
const THREAD_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const collect = youngCollector();
let sharedBytesIn = 0;
let collecting = false;
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
  if (bytes && bytes.buffer instanceof SharedArrayBuffer) sharedBytesIn += bytes.buffer.byteLength;
  if (sharedBytesIn >= ${COLLECT_AFTER_SHARED_BYTES} && !collecting) {
    collecting = true;
    setImmediate(() => {
      sharedBytesIn = 0;
      collecting = false;
      collect();
    });
  }
});

// gc() without changing the process's flags. Where the process was started with --expose-gc this
// thread has it already (or under the name --expose-gc-as gave it); else the flag is set just long
// enough to create a context that has it, then unset again.
function youngCollector() {
  if (typeof gc === 'function') return () => gc({ type: 'minor' });
  const given = [...process.execArgv, process.env.NODE_OPTIONS || ''].join(' ');
  const named = /--expose[-_]gc[-_]as[= ]([^ ]+)/.exec(given);
  if (named && typeof globalThis[named[1]] === 'function') return () => globalThis[named[1]]({ type: 'minor' });
  if (/expose[-_]gc/.test(given)) return () => undefined; // set by the process, in a way not understood here: left alone
  const { setFlagsFromString } = require('node:v8');
  // V8's flags are the process's: two threads starting at once must not unset the flag between the
  // other's setting it and making its context (which would then have no gc). One at a time, then.
  const lock = workerData.flagLock;
  while (Atomics.compareExchange(lock, 0, 0, 1) !== 0) Atomics.wait(lock, 0, 1, 5);
  setFlagsFromString('--expose-gc');
  try {
    const collectGarbage = require('node:vm').runInNewContext('gc');
    return () => collectGarbage({ type: 'minor' });
  } catch {
    return () => undefined;
  } finally {
    setFlagsFromString('--no-expose-gc');
    Atomics.store(lock, 0, 0);
    Atomics.notify(lock, 0);
  }
}
`;

/** One lock for every hashing thread of the process, held while one of them sets V8's expose-gc flag. */
const FLAG_LOCK = new Int32Array(new SharedArrayBuffer(4));

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
  private readonly worker = new Worker(THREAD_SOURCE, { eval: true, workerData: { flagLock: FLAG_LOCK } });
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
