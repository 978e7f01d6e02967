import { Worker } from 'node:worker_threads';
import { CHUNK_FILE_MODE, type DurableWrite } from './durable-write';
import { DEFAULT_CHUNK_SIZE } from '@cairn/protocol';
import { CHUNK_READ_FLAGS } from './chunk-files';
import { NOT_A_REGULAR_FILE, asCorruptChunk } from './disk-errors';
import { throwIfAborted } from './abort';
import { AlignedSlots, DIRECT_IO_ALIGNMENT, copyIntoSlot, type Slot } from './aligned-slots';

/**
 * Chunks waiting for (or being written by) the threads at once, each in a slot of shared memory sized
 * for the chunks clients cut by default. A bigger chunk (up to MAX_CHUNK_SIZE) is posted to a thread as
 * a copy of its own and written through the page cache.
 */
const WRITE_SLOTS = 8;
/**
 * Write slots never lent to receive a chunk (`lendForReceive`): half of them. A lent slot is held while
 * its chunk arrives, which a slow sender (or a hostile one, until the idle timeout) makes long, so the
 * puts copied in must always find slots; and a node rarely receives more than 4 big chunks at once.
 */
const KEPT_FOR_COPIES = 4;
/** Room before each write slot for what precedes a chunk in a message (a data frame's header and grant). */
const RECEIVE_HEADROOM = 64 * 1024;

/**
 * The durability protocol of durable-write.ts (temp file, write, fsync, close, rename, fsync the
 * directory; or a blank filled, fsynced, closed and linked; the file removed on failure), the
 * verified read of a chunk (open, fstat, read, close, SHA-256), and the settle of blanks' links
 * (blank-files.ts), run with synchronous calls on a thread of its own.
 * Asynchronously on the main thread it is eight thread-pool round trips, each a wake-up of the event
 * loop; for a small chunk those hops, not the disk, are most of the time a put takes. Here it is one
 * message there and one back. Plain CommonJS, evaluated as the worker's source (no file to bundle).
 *
 * A write marked `direct` bypasses the page cache (O_DIRECT): the chunk is written from its aligned slot
 * straight to the disk, padded to the block size, then truncated to its length. Copying a big chunk
 * into fresh page-cache pages, which nobody reads again soon, was the largest single cost of a put.
 * A read with `directAbove` does the same the other way for a chunk above that size, into the thread's
 * own slot. Where the file system refuses O_DIRECT (some network file systems; tmpfs before
 * Linux 6.6), reads and writes go through the page cache instead.
 */
const THREAD_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');
function syncDir(dir) {
  const fd = fs.openSync(dir, 'r');
  try { fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
}
/**
 * Opens a chunk file to read it as chunk-files.ts does (its flags come in workerData): never waiting
 * (a FIFO at its path), never following a link, and refusing, closed again, anything but a regular file.
 */
function openChunkFile(file) {
  const fd = fs.openSync(file, CHUNK_READ_FLAGS);
  try {
    const stats = fs.fstatSync(fd);
    if (stats.isFile()) return { fd, size: stats.size };
    throw stats.isDirectory() ? Object.assign(new Error('is a directory'), { code: 'EISDIR' }) : Object.assign(new Error('is not a regular file'), { code: NOT_A_REGULAR_FILE });
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
}
function read({ id, path: file, hash, maxSize, into, slotOffset, directAbove, verify }) {
  let direct = false;
  try {
    const { fd, size } = openChunkFile(file);
    let data;
    let inSlot = false;
    try {
      if (size > maxSize) throw Object.assign(new Error('is ' + size + ' bytes, more than any chunk'), { code: 'ECORRUPT' });
      inSlot = slotOffset !== undefined && size <= SLOT_BYTES;
      data = inSlot ? slots.subarray(slotOffset, slotOffset + size) : into && into.byteLength >= size ? Buffer.from(into, 0, size) : Buffer.allocUnsafeSlow(size);
      direct = size > directAbove && Math.ceil(size / ALIGNMENT) * ALIGNMENT <= SLOT_BYTES && directReads && readDirect(fd, size, inSlot ? slotOffset : READ_OFFSET);
      // fill, one memcpy: set copies out of shared memory word by word (copyIntoSlot, aligned-slots.ts).
      if (direct && !inSlot) data.fill(slots.subarray(READ_OFFSET, READ_OFFSET + size));
      else if (!direct) readAll(fd, data, size);
    } finally {
      fs.closeSync(fd);
    }
    // The bytes handed out are the ones hashed.
    if (verify !== false && crypto.createHash('sha256').update(data).digest('hex') !== hash) {
      throw Object.assign(new Error('does not match its hash'), { code: 'ECORRUPT' });
    }
    if (inSlot) parentPort.postMessage({ id, size: data.length, direct });
    else parentPort.postMessage({ id, data, direct }, [data.buffer]);
  } catch (err) {
    parentPort.postMessage({ id, direct, error: { code: err && err.code, message: String(err && err.message) } });
  }
}
function readAll(fd, data, size) {
  for (let offset = 0; offset < size; ) {
    const n = fs.readSync(fd, data, offset, size - offset, offset);
    if (n === 0) throw Object.assign(new Error('shrank while being read'), { code: 'ECORRUPT' });
    offset += n;
  }
}
/**
 * Reads a whole chunk past the page cache into the shared aligned memory at \`offset\`: this thread's own
 * slot (a thread runs one request at a time, so the slot is never shared), or a write slot lent for
 * the read (IoThreads.lendForRead): whole blocks, the last one short at the end of the file. The file
 * is opened again through /proc/self/fd, so it is the very file the caller opened and measured, even
 * if it was renamed or removed since. False (and the caller reads through the cache, from its
 * descriptor) if that reopening fails for any reason (a file system refusing O_DIRECT, no /proc), or
 * if a read stops off a block boundary before the end.
 */
function readDirect(cachedFd, size, offset) {
  let fd;
  try {
    fd = fs.openSync(REOPEN_DIR + '/' + cachedFd, O_RDONLY | O_DIRECT);
  } catch (err) {
    // Only an optimisation: whatever stops it, the caller's descriptor still reads the chunk.
    if (err.code === 'EINVAL') directReads = false;
    return false;
  }
  try {
    const padded = Math.ceil(size / ALIGNMENT) * ALIGNMENT;
    let done = 0;
    while (done < size) {
      let n;
      try {
        n = fs.readSync(fd, slots, offset + done, padded - done, done);
      } catch (err) {
        if (err.code === 'EINVAL') return (directReads = false);
        throw err;
      }
      if (n === 0) throw Object.assign(new Error('shrank while being read'), { code: 'ECORRUPT' });
      done += n;
      if (done < size && done % ALIGNMENT !== 0) return false;
    }
    if (done !== size) throw Object.assign(new Error('grew while being read'), { code: 'ECORRUPT' });
    return true;
  } finally {
    fs.closeSync(fd);
  }
}
const OPERATIONS = new Map([['read', read], ['write', write], ['settleLinks', settleLinks]]);
parentPort.on('message', (message) => {
  const operation = OPERATIONS.get(message.op);
  if (operation) return operation(message);
  parentPort.postMessage({ id: message.id, error: { code: 'EINVAL', message: 'no such operation: ' + String(message.op) } });
});
const slots = Buffer.from(workerData.slots);
const ALIGNMENT = workerData.alignment;
const SLOT_BYTES = workerData.slotBytes;
const READ_OFFSET = workerData.readOffset;
const REOPEN_DIR = workerData.reopenDir;
const CHUNK_READ_FLAGS = workerData.chunkReadFlags;
const NOT_A_REGULAR_FILE = workerData.notARegularFile;
const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_TRUNC, O_DIRECT } = fs.constants;
let directWorks = O_DIRECT !== undefined;
let directReads = O_DIRECT !== undefined;
function writeAll(fd, source, from, length) {
  for (let done = 0; done < length; ) done += fs.writeSync(fd, source, from + done, length - done, done);
}
/** A fresh temp file is created (exclusively); a blank made ahead is opened as it is, empty. */
function openTarget(target, fresh, extraFlags, mode) {
  return fs.openSync(target, O_WRONLY | extraFlags | (fresh ? O_CREAT | O_EXCL : 0), mode);
}
/** Padded to the block size from the aligned slot; false if the file system refuses O_DIRECT. */
function writeDirect(target, fresh, mode, offset, length) {
  let fd;
  try {
    fd = openTarget(target, fresh, O_DIRECT, mode);
  } catch (err) {
    if (err.code !== 'EINVAL') throw err;
    // Linux creates the file before it finds that the file system refuses O_DIRECT (tmpfs before
    // 6.6, some FUSE mounts): remove it, or the buffered write's exclusive create meets it.
    if (fresh) {
      try {
        fs.unlinkSync(target);
      } catch (unlinkErr) {
        if (unlinkErr.code !== 'ENOENT') throw unlinkErr;
      }
    }
    return false;
  }
  try {
    const padded = Math.ceil(length / ALIGNMENT) * ALIGNMENT;
    slots.fill(0, offset + length, offset + padded);
    try {
      writeAll(fd, slots, offset, padded);
    } catch (err) {
      if (err.code !== 'EINVAL') throw err;
      const refused = fd;
      fd = undefined; // never closed twice, even if this close fails: the number may be reused by then
      fs.closeSync(refused);
      if (fresh) fs.unlinkSync(target);
      return false;
    }
    if (padded !== length) fs.ftruncateSync(fd, length);
    fs.fsyncSync(fd);
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
  return true;
}
function writeBuffered(target, fresh, mode, source, offset, length) {
  // Truncated: a blank a refused O_DIRECT write began to fill must hold these bytes and nothing after.
  const fd = openTarget(target, fresh, O_TRUNC, mode);
  try {
    writeAll(fd, source, offset, length);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
/** Links a filled blank as the chunk's file; false if that name is taken. */
function linkIfFree(blankPath, finalPath) {
  try {
    fs.linkSync(blankPath, finalPath);
    return true;
  } catch (err) {
    if (err.code === 'EEXIST') return false;
    throw err;
  }
}
function write({ id, tempPath, blankPath, finalPath, offset, length, data, direct, mode }) {
  const fresh = blankPath === undefined;
  const target = fresh ? tempPath : blankPath;
  let renamed = false;
  let wentDirect = false;
  try {
    // From its slot in the shared memory, or (bigger than a slot) from its own posted copy.
    const inSlot = data === undefined;
    wentDirect = inSlot && direct && directWorks && (directWorks = writeDirect(target, fresh, mode, offset, length));
    if (!wentDirect) writeBuffered(target, fresh, mode, inSlot ? slots : data, inSlot ? offset : 0, length);
    // A filled blank's name is durable already: its link is made durable later, with others.
    if (!fresh && linkIfFree(target, finalPath)) {
      parentPort.postMessage({ id, direct: wentDirect, settled: false });
      return;
    }
    fs.renameSync(target, finalPath);
    renamed = true;
    syncDir(path.dirname(finalPath));
    parentPort.postMessage({ id, direct: wentDirect, settled: true });
  } catch (err) {
    try { fs.unlinkSync(renamed ? finalPath : target); } catch {}
    parentPort.postMessage({ id, error: { code: err && err.code, message: String(err && err.message) } });
  }
}
/**
 * Makes durable the links of filled blanks (blank-files.ts): fsyncs each chunk directory, removes the
 * blanks of those fsynced, then fsyncs the blanks' directory. Answers which removals are durable;
 * the others' blanks are left (or, unlinked, not known to stay gone) for the caller to keep in mind.
 */
function settleLinks({ id, dirs, blanksByDir, blanksDir }) {
  const removed = [];
  dirs.forEach((dir, i) => {
    try { syncDir(dir); } catch { return; }
    for (const blank of blanksByDir[i]) {
      try { fs.unlinkSync(blank); removed.push(blank); } catch {}
    }
  });
  let durable = removed.length > 0;
  if (durable) try { syncDir(blanksDir); } catch { durable = false; }
  parentPort.postMessage({ id, removed: durable ? removed : [] });
}
`;

/** The code of a write whose thread died before answering: it may or may not have renamed its file. */
export const THREAD_LOST = 'ETHREADLOST';

export interface ReadOptions {
  signal?: AbortSignal;
  /**
   * Memory to read into when the chunk fits in it, else a fresh buffer: an ArrayBuffer (handed over to
   * the thread), or a write slot `lendForRead` lent, which stays the caller's either way.
   */
  into?: ArrayBuffer | Uint8Array;
  /** Chunks bigger than this are read past the page cache; default: none. */
  directAbove?: number;
  /** False: the bytes are handed out without being hashed (ChunkStore's GetOptions.verify); default true. */
  verify?: boolean;
}

/** What a thread answers: a read's bytes, and whether the read or write went past the page cache. */
interface Answer {
  data?: Uint8Array;
  /** A write: whether the chunk's name is durable already. */
  settled?: boolean;
  /** A settle of links: the blanks whose removal is durable. */
  removed?: string[];
  /** A read into a lent slot: the chunk's length there. */
  size?: number;
  direct?: boolean;
}

/** What a write comes to: whether it went past the page cache, and whether its chunk's name is durable yet. */
export interface WriteAnswer {
  direct: boolean;
  settled: boolean;
}

function writeAnswer(answer: Answer): WriteAnswer {
  return { direct: answer.direct === true, settled: answer.settled !== false };
}

interface Pending {
  thread: IoThread;
  resolve: (answer: Answer) => void;
  reject: (err: Error) => void;
}

interface IoThread {
  worker: Worker;
  outstanding: number;
  /** Which reserved slot of the shared memory this thread reads past the page cache into. */
  readSlot: number;
}

/** An error from an I/O thread, shaped like the fs error it was (code kept for toDiskError). */
function threadError(error: { code?: string; message: string }): Error {
  return Object.assign(new Error(error.message), error.code ? { code: error.code } : {});
}

/**
 * A few I/O threads, started when first needed; each request goes to the least busy one. Requests to a
 * thread run in the order they were sent. Like any open handle, the threads keep the process alive
 * until `close` ends them: a request in flight must never be cut short by the event loop running empty.
 */
export class IoThreads {
  private readonly threads: IoThread[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;
  /** Made when first needed; every thread sees them. */
  private slots: AlignedSlots | undefined;
  /** Write slots lent to receive a chunk into (`lendForReceive`) or to read one into (`lendForRead`), by their offset. */
  private readonly lent = new Map<number, Slot>();
  private pastCache = 0;

  constructor(
    private readonly maxThreads = 2,
    /** The largest write that goes through a slot (and may go past the page cache), and read that may. */
    readonly slotBytes = DEFAULT_CHUNK_SIZE,
    /** Where a thread reopens a descriptor for a read past the page cache; tests point it elsewhere. */
    private readonly reopenDir = '/proc/self/fd',
  ) {}

  /** How many verified reads went past the page cache (O_DIRECT) so far, sound or refused. */
  get readsPastCache(): number {
    return this.pastCache;
  }

  /**
   * Lends a write slot to receive a message into: a buffer of `headBytes + chunkBytes` whose last
   * `chunkBytes` bytes begin on the slot's aligned start, so that a `write` of exactly those bytes goes
   * from there, without the copy into a slot every other write costs. Undefined (receive elsewhere)
   * when they would not fit, or when no more than KEPT_FOR_COPIES slots are free. The buffer is the
   * caller's until it gives it back with `giveBack`, after the write it was lent for.
   */
  lendForReceive(headBytes: number, chunkBytes: number): Buffer | undefined {
    if (headBytes > RECEIVE_HEADROOM || chunkBytes > this.slotBytes) return undefined;
    const slot = this.lendSlot();
    return slot && Buffer.from(this.slots!.memory, slot.offset - headBytes, headBytes + chunkBytes);
  }

  /**
   * Lends a whole write slot to read a chunk into (`readChunk`'s `into`), for a reader that sends the
   * chunk on from there: a big chunk read past the page cache then lands where it is sent from, with
   * no copy out of the thread's own slot and no buffer of its own, so a node serving gets needs no
   * memory beyond the slots its puts use. Undefined under the same rule as `lendForReceive`; given
   * back with `giveBack` once nothing reads it.
   */
  lendForRead(): Buffer | undefined {
    const slot = this.lendSlot();
    return slot && Buffer.from(this.slots!.memory, slot.offset, this.slots!.slotBytes);
  }

  /** A slot lent (made `slots` exist), unless closed or no more than KEPT_FOR_COPIES are free. */
  private lendSlot(): Slot | undefined {
    if (this.closed) return undefined;
    const slots = this.sharedSlots();
    if (slots.freeCount <= KEPT_FOR_COPIES) return undefined;
    const slot = slots.tryAcquire()!; // there are free ones: just counted
    this.lent.set(slot.offset, slot);
    return slot;
  }

  /** Takes back a buffer `lendForReceive` or `lendForRead` lent (or any view into it); false, and nothing done, for any other. */
  giveBack(bytes: Uint8Array): boolean {
    const offset = this.lentOffset(bytes);
    if (offset === undefined) return false;
    const slot = this.lent.get(offset)!;
    this.lent.delete(offset);
    this.slots!.release(slot);
    return true;
  }

  /** The offset of the lent slot `bytes` is a view of (its headroom included), if it is one. */
  private lentOffset(bytes: Uint8Array): number | undefined {
    const slots = this.slots;
    if (!slots || bytes.buffer !== slots.memory) return undefined;
    for (const offset of this.lent.keys()) {
      if (bytes.byteOffset >= offset - slots.headroom && bytes.byteOffset < offset + slots.slotBytes) return offset;
    }
    return undefined;
  }

  /** Write slots lent (to receive or to read chunks into) and not given back yet. */
  get lentSlots(): number {
    return this.lent.size;
  }

  /**
   * Writes durably (the protocol of `DurableWrite`; the directories must exist). Bytes received into a
   * lent slot (`lendForReceive`) are written from there; others are copied into a free slot of shared
   * memory first (waiting for one if all are taken), or, bigger than a slot, posted as a copy of their
   * own. `direct` asks for O_DIRECT (see THREAD_SOURCE), which only a slot's aligned memory allows;
   * the answer says whether the write went past the page cache, and whether the chunk's name is
   * durable already (`settled`; false only for a blank linked as its chunk, whose directory is the
   * caller's to fsync). The signal is honoured until the write is handed to a thread; from then on it
   * runs to its end.
   */
  async write({ tempPath, blankPath, finalPath, data, signal, direct = false }: DurableWrite & { direct?: boolean }): Promise<WriteAnswer> {
    throwIfAborted(signal);
    if (this.closed) throw new Error('the I/O threads are closed');
    if ((tempPath === undefined) === (blankPath === undefined)) throw new TypeError('a write goes to a temp file or to a blank, one of them');
    const message = { op: 'write', tempPath, blankPath, finalPath, length: data.length, mode: CHUNK_FILE_MODE };
    const slots = this.sharedSlots();
    if (data.buffer === slots.memory && this.lent.has(data.byteOffset)) {
      // Received where it is written from; the slot stays lent to its receiver.
      return writeAnswer(await this.send({ ...message, offset: data.byteOffset, direct }, []));
    }
    if (data.length > slots.slotBytes) {
      const copy = new Uint8Array(data); // its own buffer, handed over rather than copied again
      return writeAnswer(await this.send({ ...message, data: copy, direct: false }, [copy.buffer as ArrayBuffer]));
    }
    const slot = await slots.acquire(signal);
    try {
      if (this.closed) throw new Error('the I/O threads are closed');
      throwIfAborted(signal);
      copyIntoSlot(slot, data);
      const { offset } = slot;
      return writeAnswer(await this.send({ ...message, offset, direct }, []));
    } finally {
      slots.release(slot);
    }
  }

  /**
   * For blank-files.ts, in one round trip: fsyncs each of `dirs`, removes the blanks listed for it
   * (`blanksByDir[i]` for `dirs[i]`) if that succeeded, then fsyncs `blanksDir`. Resolves with the
   * blanks whose removal is durable; never rejects for a file-system failure.
   */
  async settleLinks(dirs: string[], blanksByDir: string[][], blanksDir: string): Promise<string[]> {
    if (this.closed) throw new Error('the I/O threads are closed');
    return (await this.send({ op: 'settleLinks', dirs, blanksByDir, blanksDir }, [])).removed ?? [];
  }

  /**
   * Reads a whole chunk file and checks its SHA-256 on a thread: one round trip instead of four, and
   * the hashing off the event loop. The bytes come back without a copy. A file bigger than `maxSize`,
   * shorter than it said or (unless `verify` is false) not matching `hash` is `E_CORRUPT`; file-system
   * errors keep their code (ENOENT: not stored), and so does the refusal of anything but a regular file
   * (chunk-files.ts: ELOOP for a link, EISDIR, NOT_A_REGULAR_FILE for a FIFO and the like). `into`,
   * handed over to the thread, is read into when the chunk fits in it.
   *
   * A chunk bigger than `directAbove` is read past the page cache (O_DIRECT) into the thread's own slot
   * of the shared aligned memory (as big as a write slot: a bigger chunk goes through the cache), then
   * copied out and hashed: for a chunk read once, as a big file's chunks are, that costs a sixth of the
   * kernel's time of a cached read (docs/performance.md). Where the file system refuses O_DIRECT,
   * through the cache. Into a lent slot (`lendForRead`), the chunk comes back as a view of it when it
   * fits, read past the page cache straight there.
   */
  async readChunk(path: string, hash: string, maxSize: number, options: ReadOptions = {}): Promise<Buffer> {
    const { signal, into, directAbove = Infinity, verify = true } = options;
    throwIfAborted(signal);
    if (this.closed) throw new Error('the I/O threads are closed');
    const slotOffset = into instanceof Uint8Array ? this.lentOffset(into) : undefined;
    if (into instanceof Uint8Array && (slotOffset === undefined || into.byteOffset !== slotOffset)) {
      throw new RangeError('a read goes into an ArrayBuffer or a whole slot lendForRead lent');
    }
    const handedOver = into instanceof ArrayBuffer ? into : undefined;
    try {
      const message = { op: 'read', path, hash, maxSize, into: handedOver, slotOffset, directAbove, verify };
      const answer = await this.send(message, handedOver ? [handedOver] : []);
      if (answer.direct) this.pastCache++;
      if (answer.size !== undefined) return Buffer.from(this.sharedSlots().memory, slotOffset, answer.size);
      const data = answer.data as Uint8Array; // a read's answer carries its bytes unless they are in the slot
      return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    } catch (err) {
      if ((err as { direct?: boolean }).direct) this.pastCache++; // read past the cache, then refused
      throw asCorruptChunk(err, hash) ?? err;
    }
  }

  private async send(message: Record<string, unknown>, transfer: ArrayBuffer[]): Promise<Answer> {
    const thread = this.pick();
    const id = this.nextId++;
    thread.outstanding++;
    try {
      return await new Promise<Answer>((resolve, reject) => {
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

  private sharedSlots(): AlignedSlots {
    return (this.slots ??= new AlignedSlots(WRITE_SLOTS, this.slotBytes, this.maxThreads, RECEIVE_HEADROOM));
  }

  private pick(): IoThread {
    const idle = this.threads.find((w) => w.outstanding === 0);
    if (idle) return idle;
    if (this.threads.length < this.maxThreads) return this.start();
    return this.threads.reduce((a, b) => (b.outstanding < a.outstanding ? b : a));
  }

  private start(): IoThread {
    const slots = this.sharedSlots();
    // The lowest reserved slot no living thread reads into (a thread that died gave its slot back).
    const taken = new Set(this.threads.map((t) => t.readSlot));
    let readSlot = 0;
    while (taken.has(readSlot)) readSlot++;
    const workerData = {
      slots: slots.memory,
      slotBytes: slots.slotBytes,
      readOffset: slots.reservedOffset(readSlot),
      reopenDir: this.reopenDir,
      alignment: DIRECT_IO_ALIGNMENT,
      chunkReadFlags: CHUNK_READ_FLAGS,
      notARegularFile: NOT_A_REGULAR_FILE,
    };
    const worker = new Worker(THREAD_SOURCE, { eval: true, workerData });
    const thread: IoThread = { worker, outstanding: 0, readSlot };
    worker.on('message', ({ id, error, ...answer }: Answer & { id: number; error?: { code?: string; message: string } }) => {
      const pending = this.pending.get(id);
      this.pending.delete(id);
      if (error) pending?.reject(Object.assign(threadError(error), { direct: answer.direct === true }));
      else pending?.resolve(answer);
    });
    worker.on('error', (err) => this.fail(thread, err));
    worker.on('exit', () => this.fail(thread, new Error('an I/O thread exited')));
    this.threads.push(thread);
    return thread;
  }

  /**
   * A thread died: its writes (and reads, and settles) fail with `THREAD_LOST` (the caller cannot know how far each got: its
   * temp file is swept at the next open; its blank, and its final file if placed already, are the
   * caller's to remove). The other threads go on.
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
