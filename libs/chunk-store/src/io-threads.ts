import { Worker } from 'node:worker_threads';
import { CHUNK_FILE_MODE, DIRECTORY_MODE, type DurableWrite } from './durable-write';
import { CairnError } from '@cairn/protocol';
import { throwIfAborted } from './abort';

/**
 * The durability protocol of durable-write.ts (fan-out directories made durable if missing, temp file,
 * write, fsync, close, rename, fsync the directory; the temp file removed on failure), and the verified
 * read of a chunk (open, fstat, read, close, SHA-256), run with synchronous calls on a thread of its own.
 * Asynchronously on the main thread it is eight thread-pool round trips, each a wake-up of the event
 * loop; for a small chunk those hops, not the disk, are most of the time a put takes. Here it is one
 * message there and one back. Plain CommonJS, evaluated as the worker's source (no file to bundle).
 */
const THREAD_SOURCE = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const path = require('node:path');
function syncDir(dir) {
  const fd = fs.openSync(dir, 'r');
  try { fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
}
function created(dir, mode) {
  try { fs.mkdirSync(dir, { mode }); } catch (err) { if (err.code !== 'EEXIST') throw err; }
}
const crypto = require('node:crypto');
function read({ id, path: file, hash, maxSize }) {
  try {
    const fd = fs.openSync(file, 'r');
    let data;
    try {
      const { size } = fs.fstatSync(fd);
      if (size > maxSize) throw Object.assign(new Error('is ' + size + ' bytes, more than any chunk'), { code: 'ECORRUPT' });
      data = Buffer.allocUnsafeSlow(size);
      for (let offset = 0; offset < size; ) {
        const n = fs.readSync(fd, data, offset, size - offset, offset);
        if (n === 0) throw Object.assign(new Error('shrank while being read'), { code: 'ECORRUPT' });
        offset += n;
      }
    } finally {
      fs.closeSync(fd);
    }
    if (crypto.createHash('sha256').update(data).digest('hex') !== hash) {
      throw Object.assign(new Error('does not match its hash'), { code: 'ECORRUPT' });
    }
    parentPort.postMessage({ id, data }, [data.buffer]);
  } catch (err) {
    parentPort.postMessage({ id, error: { code: err && err.code, message: String(err && err.message) } });
  }
}
parentPort.on('message', (message) => (message.op === 'read' ? read(message) : write(message)));
function write({ id, tempPath, finalPath, data, mode, dirs, dirMode }) {
  let renamed = false;
  try {
    for (const dir of dirs) created(dir, dirMode);
    const fd = fs.openSync(tempPath, 'wx', mode);
    try {
      for (let offset = 0; offset < data.length; ) offset += fs.writeSync(fd, data, offset, data.length - offset, offset);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tempPath, finalPath);
    renamed = true;
    syncDir(path.dirname(finalPath));
    // The directories' entries, fsynced last (every change is made by now, so on a journalling file
    // system the fsyncs above have committed them already and these cost next to nothing). Whether this
    // put or a concurrent one created a directory, it is not known durable until someone fsyncs it.
    for (const dir of [...dirs].reverse()) syncDir(path.dirname(dir));
    parentPort.postMessage({ id });
  } catch (err) {
    try { fs.unlinkSync(renamed ? finalPath : tempPath); } catch {}
    parentPort.postMessage({ id, error: { code: err && err.code, message: String(err && err.message) } });
  }
}
`;

/** The code of a write whose thread died before answering: it may or may not have renamed its file. */
export const THREAD_LOST = 'ETHREADLOST';

interface Pending {
  thread: IoThread;
  resolve: (data: Uint8Array | undefined) => void;
  reject: (err: Error) => void;
}

interface IoThread {
  worker: Worker;
  outstanding: number;
}

/** An error from an I/O thread, shaped like the fs error it was (code kept for toDiskError). */
function threadError(error: { code?: string; message: string }): Error {
  return Object.assign(new Error(error.message), error.code ? { code: error.code } : {});
}

/**
 * A few I/O threads, started when first needed; each request goes to the least busy one. Requests to a
 * thread run in the order they were sent. The threads never keep the process alive; `close` ends them.
 */
export class IoThreads {
  private readonly threads: IoThread[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;

  constructor(private readonly maxThreads = 2) {}

  /**
   * Writes durably, as `writeFileDurably` does, into `dirs` (created in order where missing, and their
   * parents fsynced before the write is acknowledged). The signal is honoured until the write is handed
   * to a thread; from then on it runs to its end (it is short: small chunks only come here).
   */
  async write({ tempPath, finalPath, data, signal, dirs = [] }: DurableWrite & { dirs?: string[] }): Promise<void> {
    throwIfAborted(signal);
    if (this.closed) throw new Error('the I/O threads are closed');
    // Posting a view copies its whole underlying buffer (often a 64 KiB socket read for a 4 KiB chunk):
    // send an exact copy instead, and hand its memory over rather than copying it again.
    const exact = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? data : new Uint8Array(data);
    const transfer = exact === data ? [] : [exact.buffer as ArrayBuffer];
    await this.send({ op: 'write', tempPath, finalPath, data: exact, mode: CHUNK_FILE_MODE, dirs, dirMode: DIRECTORY_MODE }, transfer);
  }

  /**
   * Reads a whole chunk file and checks its SHA-256 on a thread: one round trip instead of four, and
   * the hashing off the event loop. The bytes come back without a copy. A file bigger than `maxSize`,
   * shorter than it said or not matching `hash` is `E_CORRUPT`; file-system errors keep their code
   * (ENOENT: not stored).
   */
  async readVerified(path: string, hash: string, maxSize: number, signal?: AbortSignal): Promise<Buffer> {
    throwIfAborted(signal);
    if (this.closed) throw new Error('the I/O threads are closed');
    try {
      const data = (await this.send({ op: 'read', path, hash, maxSize }, [])) as Uint8Array;
      return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    } catch (err) {
      if ((err as { code?: string }).code === 'ECORRUPT') {
        throw new CairnError('E_CORRUPT', `chunk ${hash} on disk ${(err as Error).message}`, { hash });
      }
      throw err;
    }
  }

  private async send(message: Record<string, unknown>, transfer: ArrayBuffer[]): Promise<Uint8Array | undefined> {
    const thread = this.pick();
    const id = this.nextId++;
    thread.outstanding++;
    try {
      return await new Promise<Uint8Array | undefined>((resolve, reject) => {
        this.pending.set(id, { thread, resolve, reject });
        thread.worker.postMessage({ ...message, id }, transfer);
      });
    } finally {
      thread.outstanding--;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.threads.splice(0).map((w) => w.worker.terminate()));
    for (const { reject } of this.pending.values()) reject(new Error('the I/O threads were closed'));
    this.pending.clear();
  }

  private pick(): IoThread {
    const idle = this.threads.find((w) => w.outstanding === 0);
    if (idle) return idle;
    if (this.threads.length < this.maxThreads) return this.start();
    return this.threads.reduce((a, b) => (b.outstanding < a.outstanding ? b : a));
  }

  private start(): IoThread {
    const worker = new Worker(THREAD_SOURCE, { eval: true });
    worker.unref();
    const thread: IoThread = { worker, outstanding: 0 };
    worker.on('message', ({ id, error, data }: { id: number; error?: { code?: string; message: string }; data?: Uint8Array }) => {
      const pending = this.pending.get(id);
      this.pending.delete(id);
      if (error) pending?.reject(threadError(error));
      else pending?.resolve(data);
    });
    worker.on('error', (err) => this.fail(thread, err));
    worker.on('exit', () => this.fail(thread, new Error('an I/O thread exited')));
    this.threads.push(thread);
    return thread;
  }

  /**
   * A thread died: its writes fail with `THREAD_LOST` (the caller cannot know how far each got: its
   * temp file is swept at the next open, and its final file, if renamed already, is the caller's to
   * remove). The other threads go on.
   */
  private fail(thread: IoThread, cause: Error): void {
    const err = Object.assign(new Error(`an I/O thread failed: ${cause.message}`), { code: THREAD_LOST });
    const index = this.threads.indexOf(thread);
    if (index >= 0) this.threads.splice(index, 1);
    for (const [id, pending] of this.pending) {
      if (pending.thread !== thread) continue;
      this.pending.delete(id);
      pending.reject(err);
    }
  }
}
