import { Worker } from 'node:worker_threads';
import { CHUNK_FILE_MODE, DIRECTORY_MODE, type DurableWrite } from './durable-write';
import { throwIfAborted } from './abort';

/**
 * The durability protocol of durable-write.ts (fan-out directories made durable if missing, temp file,
 * write, fsync, close, rename, fsync the directory; the temp file removed on failure), run with
 * synchronous calls on a thread of its own.
 * Asynchronously on the main thread it is eight thread-pool round trips, each a wake-up of the event
 * loop; for a small chunk those hops, not the disk, are most of the time a put takes. Here it is one
 * message there and one back. Plain CommonJS, evaluated as the worker's source (no file to bundle).
 */
const WRITER_SOURCE = `
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
parentPort.on('message', ({ id, tempPath, finalPath, data, mode, dirs, dirMode }) => {
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
});
`;

/** The code of a write whose thread died before answering: it may or may not have renamed its file. */
export const WRITER_LOST = 'EWRITERLOST';

interface Pending {
  writer: Writer;
  resolve: () => void;
  reject: (err: Error) => void;
}

interface Writer {
  worker: Worker;
  outstanding: number;
}

/** An error from the writer thread, shaped like the fs error it was (code kept for toDiskError). */
function threadError(error: { code?: string; message: string }): Error {
  return Object.assign(new Error(error.message), error.code ? { code: error.code } : {});
}

/**
 * A few writer threads, started when first needed; each write goes to the least busy one. Writes to a
 * thread run in the order they were sent. The threads never keep the process alive; `close` ends them.
 */
export class WriterThreads {
  private readonly writers: Writer[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;

  constructor(private readonly maxThreads = 2) {}

  /**
   * Writes durably, as `writeFileDurably` does, into `dirs` (created in order where missing; each new
   * one made durable by an fsync of its parent before the write is acknowledged). The signal is honoured until the write is handed to a
   * thread; from then on the write runs to its end (it is short: small chunks only come here).
   */
  async write({ tempPath, finalPath, data, signal, dirs = [] }: DurableWrite & { dirs?: string[] }): Promise<void> {
    throwIfAborted(signal);
    if (this.closed) throw new Error('the writer threads are closed');
    const writer = this.pick();
    const id = this.nextId++;
    writer.outstanding++;
    // Posting a view copies its whole underlying buffer (often a 64 KiB socket read for a 4 KiB chunk):
    // send an exact copy instead, and hand its memory over rather than copying it again.
    const exact = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? data : new Uint8Array(data);
    const transfer = exact === data ? [] : [exact.buffer as ArrayBuffer];
    await new Promise<void>((resolve, reject) => {
      this.pending.set(id, { writer, resolve, reject });
      writer.worker.postMessage({ id, tempPath, finalPath, data: exact, mode: CHUNK_FILE_MODE, dirs, dirMode: DIRECTORY_MODE }, transfer);
    }).finally(() => {
      writer.outstanding--;
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.writers.splice(0).map((w) => w.worker.terminate()));
    for (const { reject } of this.pending.values()) reject(new Error('the writer threads were closed'));
    this.pending.clear();
  }

  private pick(): Writer {
    const idle = this.writers.find((w) => w.outstanding === 0);
    if (idle) return idle;
    if (this.writers.length < this.maxThreads) return this.start();
    return this.writers.reduce((a, b) => (b.outstanding < a.outstanding ? b : a));
  }

  private start(): Writer {
    const worker = new Worker(WRITER_SOURCE, { eval: true });
    worker.unref();
    const writer: Writer = { worker, outstanding: 0 };
    worker.on('message', ({ id, error }: { id: number; error?: { code?: string; message: string } }) => {
      const pending = this.pending.get(id);
      this.pending.delete(id);
      if (error) pending?.reject(threadError(error));
      else pending?.resolve();
    });
    worker.on('error', (err) => this.fail(writer, err));
    worker.on('exit', () => this.fail(writer, new Error('a writer thread exited')));
    this.writers.push(writer);
    return writer;
  }

  /**
   * A thread died: its writes fail with `WRITER_LOST` (the caller cannot know how far each got: its
   * temp file is swept at the next open, and its final file, if renamed already, is the caller's to
   * remove). The other threads go on.
   */
  private fail(writer: Writer, cause: Error): void {
    const err = Object.assign(new Error(`a writer thread failed: ${cause.message}`), { code: WRITER_LOST });
    const index = this.writers.indexOf(writer);
    if (index >= 0) this.writers.splice(index, 1);
    for (const [id, pending] of this.pending) {
      if (pending.writer !== writer) continue;
      this.pending.delete(id);
      pending.reject(err);
    }
  }
}
