import { createHash } from 'node:crypto';
import { isCairnError, manifestSha256 } from '@cairn/protocol';
import type {
  CatalogStore,
  FileRecord,
  NodeRecord,
  StoredChunk,
} from '../catalog';

/** Shared by the catalog conformance suites: records and helpers written against the interface. */

/** A realistic chunk hash for a label. */
export function hashOf(label: string): string {
  return createHash('sha256').update(label).digest('hex');
}

export function chunk(
  index: number,
  label: string,
  size: number,
  nodes: string[],
): StoredChunk {
  return { index, hash: hashOf(label), size, nodes };
}

export function node(id: string, zone: string | null = null): NodeRecord {
  return {
    id,
    address: `127.0.0.1:${7700 + id.length}`,
    zone,
    capacity: 1000,
    used: 10,
    chunks: 1,
    firstSeen: 1,
    lastSeen: 2,
    draining: false,
  };
}

/** The error code a promise rejects with ('resolved' if it does not). */
export async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'resolved';
  } catch (err) {
    return isCairnError(err) ? err.code : `not a CairnError: ${String(err)}`;
  }
}

export function bytewise(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

export interface PutOptions {
  replicas?: number;
  now?: number;
  uploadId?: string;
}

let uploadCounter = 0;

/** Uploads and commits a file made of `chunks` (sizes summed, indexes as given). */
export async function put(
  store: CatalogStore,
  name: string,
  chunks: StoredChunk[],
  options: PutOptions = {},
): Promise<FileRecord> {
  const id = options.uploadId ?? `upload-${++uploadCounter}`;
  const now = options.now ?? 1_000;
  await store.beginUpload({
    id,
    name,
    replicas: options.replicas ?? 2,
    createdAt: Math.max(0, now - 10),
  });
  await store.recordUploadChunks(id, chunks);
  const size = chunks.reduce((sum, c) => sum + c.size, 0);
  return store.commitUpload(id, {
    size,
    sha256: hashOf(`file:${name}:${now}`),
    manifestSha256: manifestSha256([...chunks].sort((a, b) => a.index - b.index)), // as the SDK names it
    chunkCount: chunks.length,
    now,
  });
}

/** Three 100-byte chunks, each on two nodes. */
export function threeChunks(label: string): StoredChunk[] {
  return [
    chunk(0, `${label}-0`, 100, ['n1', 'n2']),
    chunk(1, `${label}-1`, 100, ['n2', 'n3']),
    chunk(2, `${label}-2`, 50, ['n3', 'n1']),
  ];
}
