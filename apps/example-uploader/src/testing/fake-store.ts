import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { CairnError, type FileInfo, validateName } from '@cairn/protocol';

/**
 * An in-memory stand-in for CairnClient with the same name rules and error codes. Like the SDK, an
 * aborted signal rejects a put with E_ABORTED at once, even while its source stalls, and stores nothing.
 */
export class FakeStore {
  readonly files = new Map<string, Buffer>();
  /** Bytes the current put has pulled from its source so far. */
  pulled = 0;
  onPull: ((pulled: number) => void) | undefined;
  failPutAfterFirstPart: CairnError | undefined;
  failPutBeforeReading: CairnError | undefined;
  /** For get: the bytes to send before failing with this error. */
  failGetAfter: { bytes: number; error: CairnError } | undefined;
  private nextId = 1;

  async put(name: string, source: AsyncIterable<Uint8Array>, { signal }: { signal?: AbortSignal } = {}): Promise<FileInfo> {
    validateName(name);
    const parts: Buffer[] = [];
    this.pulled = 0;
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_resolve, reject) => {
      onAbort = () => reject(new CairnError('E_ABORTED', 'the put was aborted'));
      if (signal?.aborted) onAbort();
      else signal?.addEventListener('abort', onAbort, { once: true });
    });
    aborted.catch(() => undefined); // raced below; never left unhandled
    const reader = source[Symbol.asyncIterator]();
    try {
      if (this.failPutBeforeReading) throw this.failPutBeforeReading; // e.g. refused by the controller
      for (let next = await Promise.race([reader.next(), aborted]); !next.done; next = await Promise.race([reader.next(), aborted])) {
        parts.push(Buffer.from(next.value));
        this.pulled += next.value.length;
        this.onPull?.(this.pulled);
        if (this.failPutAfterFirstPart) throw this.failPutAfterFirstPart;
      }
    } finally {
      if (onAbort) signal?.removeEventListener('abort', onAbort);
      if (source instanceof Readable) source.destroy(); // as CairnClient.put does
    }
    this.files.set(name, Buffer.concat(parts));
    return this.info(name);
  }

  get(name: string): Readable {
    const data = this.files.get(name);
    const failAfter = this.failGetAfter;
    return Readable.from(
      (async function* () {
        if (!data) throw new CairnError('E_NOT_FOUND', `no file named ${name}`);
        for (let at = 0; at < data.length; at += 64 * 1024) {
          if (failAfter && at >= failAfter.bytes) throw failAfter.error;
          yield data.subarray(at, at + 64 * 1024);
        }
      })(),
    );
  }

  async stat(name: string): Promise<FileInfo> {
    validateName(name);
    return this.info(name);
  }

  async *ls(prefix = ''): AsyncGenerator<FileInfo> {
    for (const name of [...this.files.keys()].sort()) if (name.startsWith(prefix)) yield this.info(name);
  }

  async rm(name: string): Promise<FileInfo> {
    const info = this.info(validateName(name));
    this.files.delete(name);
    return info;
  }

  private info(name: string): FileInfo {
    const data = this.files.get(name);
    if (!data) throw new CairnError('E_NOT_FOUND', `no file named ${name}`);
    const sha256 = createHash('sha256').update(data).digest('hex');
    return { id: this.nextId++, name, size: data.length, sha256, replicas: 2, chunkCount: Math.ceil(data.length / 1048576), createdAt: 1, updatedAt: 1 } as FileInfo;
  }
}
