import { CairnError } from '@cairn/protocol';
import type { NewUpload, NodeRecord, StoredChunk } from './catalog';
import { MAX_PAGE_ROWS, SHA256_HEX } from './limits';

/**
 * Argument checks every catalog engine applies before touching its storage, so that all engines
 * reject the same inputs with the same codes.
 */

function isCount(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

function isNonEmptyString(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0;
}

/** A page request: `from` a non-negative integer, `limit` in 0..MAX_PAGE_ROWS. */
export function checkPage(from: number, limit: number): void {
  if (!isCount(from) || !isCount(limit) || limit > MAX_PAGE_ROWS) {
    throw new CairnError(
      'E_BAD_MESSAGE',
      `invalid page (from ${from}, limit ${limit}): both must be integers >= 0, limit at most ${MAX_PAGE_ROWS}`,
    );
  }
}

export function checkNode(node: NodeRecord): void {
  const counts = [
    node.capacity,
    node.used,
    node.chunks,
    node.firstSeen,
    node.lastSeen,
  ];
  if (
    !isNonEmptyString(node.id) ||
    typeof node.address !== 'string' ||
    !counts.every(isCount)
  ) {
    throw new CairnError(
      'E_BAD_MESSAGE',
      `invalid node record ${String(node.id)}: needs an id, an address and integer sizes and times >= 0`,
    );
  }
  if (node.zone !== null && typeof node.zone !== 'string') {
    throw new CairnError('E_BAD_MESSAGE', `invalid zone for node ${node.id}`);
  }
  if (typeof node.draining !== 'boolean') {
    throw new CairnError(
      'E_BAD_MESSAGE',
      `invalid node record ${node.id}: draining must be true or false`,
    );
  }
}

/** A dead node's last heartbeat as `recordNodeDeath` takes it: sizes and a time, integers >= 0. */
export function checkLastHeartbeat(nodeId: string, last: { used: number; chunks: number; lastSeen: number }): void {
  checkNodeId(nodeId);
  if (![last.used, last.chunks, last.lastSeen].every(isCount)) {
    throw new CairnError('E_BAD_MESSAGE', `invalid last heartbeat of node ${nodeId}: needs integer sizes and a time >= 0`);
  }
}

export function checkNodeId(nodeId: string): void {
  if (!isNonEmptyString(nodeId)) {
    throw new CairnError(
      'E_BAD_MESSAGE',
      'a node id must be a non-empty string',
    );
  }
}

/** A time in ms since the epoch (or a duration in ms): an integer >= 0. */
export function checkTime(what: string, value: number): void {
  if (!isCount(value)) {
    throw new CairnError(
      'E_BAD_MESSAGE',
      `invalid ${what} ${value}: must be an integer number of ms >= 0`,
    );
  }
}

/** A list of node ids, as passed to the repair planners. */
export function checkNodeIds(nodeIds: readonly string[]): void {
  if (!Array.isArray(nodeIds) || !nodeIds.every(isNonEmptyString)) {
    throw new CairnError(
      'E_BAD_MESSAGE',
      'node ids must be an array of non-empty strings',
    );
  }
}

/** One page of a node's chunk report: at most MAX_PAGE_ROWS lowercase hex SHA-256 hashes. */
export function checkReportPage(hashes: readonly string[]): void {
  if (!Array.isArray(hashes) || hashes.length > MAX_PAGE_ROWS) {
    throw new CairnError(
      'E_BAD_MESSAGE',
      `a report page holds at most ${MAX_PAGE_ROWS} hashes`,
    );
  }
  const bad = hashes.find(
    (hash) => typeof hash !== 'string' || !SHA256_HEX.test(hash),
  );
  if (bad !== undefined) {
    throw new CairnError(
      'E_BAD_MESSAGE',
      `invalid chunk hash in report: ${String(bad).slice(0, 80)} (lowercase hex SHA-256 expected)`,
    );
  }
}

/** Chunk hashes handed to a hold or an unlisting: at most MAX_PAGE_ROWS, lowercase hex SHA-256. */
export function checkHashes(
  what: string,
  hashes: readonly string[],
  code: 'E_BAD_MESSAGE' | 'E_UPLOAD_INVALID',
): void {
  if (!Array.isArray(hashes) || hashes.length > MAX_PAGE_ROWS) {
    throw new CairnError(code, `${what}: at most ${MAX_PAGE_ROWS} hashes in an array`);
  }
  const bad = hashes.find(
    (hash) => typeof hash !== 'string' || !SHA256_HEX.test(hash),
  );
  if (bad !== undefined) {
    throw new CairnError(
      code,
      `${what}: invalid chunk hash ${String(bad).slice(0, 80)} (lowercase hex SHA-256 expected)`,
    );
  }
}

export function checkUpload(upload: NewUpload): void {
  if (!isNonEmptyString(upload.id) || typeof upload.name !== 'string') {
    throw new CairnError(
      'E_UPLOAD_INVALID',
      'an upload needs a non-empty id and a name',
    );
  }
  if (!Number.isSafeInteger(upload.replicas) || upload.replicas < 1) {
    throw new CairnError(
      'E_UPLOAD_INVALID',
      `invalid replication factor ${upload.replicas}`,
    );
  }
  if (!isCount(upload.createdAt)) {
    throw new CairnError(
      'E_UPLOAD_INVALID',
      'an upload needs a creation time (integer ms)',
    );
  }
}

export function checkUploadTime(now: number): void {
  if (!isCount(now)) {
    throw new CairnError(
      'E_UPLOAD_INVALID',
      `invalid upload activity time ${now}: must be integer ms >= 0`,
    );
  }
}

export function checkStoredChunks(chunks: readonly StoredChunk[]): void {
  for (const chunk of chunks) {
    if (
      !isCount(chunk.index) ||
      !isCount(chunk.size) ||
      !SHA256_HEX.test(chunk.hash)
    ) {
      throw new CairnError(
        'E_UPLOAD_INVALID',
        `invalid chunk (index ${chunk.index}, size ${chunk.size}, hash ${chunk.hash}): ` +
          'index and size must be integers >= 0 and hash lowercase hex SHA-256',
      );
    }
    if (!Array.isArray(chunk.nodes) || !chunk.nodes.every(isNonEmptyString)) {
      throw new CairnError(
        'E_UPLOAD_INVALID',
        `chunk ${chunk.index}: node ids must be non-empty strings`,
      );
    }
  }
}

export function checkCommit(commit: {
  name?: string;
  size: number;
  sha256: string;
  manifestSha256?: string;
  chunkCount: number;
  now: number;
}): void {
  if (
    !isCount(commit.size) ||
    !isCount(commit.chunkCount) ||
    !isCount(commit.now)
  ) {
    throw new CairnError(
      'E_UPLOAD_INVALID',
      'a commit needs integer size, chunk count and time (ms) >= 0',
    );
  }
  if (!SHA256_HEX.test(commit.sha256)) {
    throw new CairnError(
      'E_UPLOAD_INVALID',
      'a commit needs the lowercase hex SHA-256 of the whole file',
    );
  }
  if (commit.manifestSha256 !== undefined && !SHA256_HEX.test(commit.manifestSha256)) {
    throw new CairnError(
      'E_UPLOAD_INVALID',
      'a commit\'s manifest hash is the lowercase hex SHA-256 of its chunk list',
    );
  }
  if (commit.name !== undefined && !isNonEmptyString(commit.name)) {
    throw new CairnError('E_UPLOAD_INVALID', 'a commit\'s name is a non-empty string');
  }
}

/**
 * The name the committed file takes: the upload's, or for a prepared upload (begun without one)
 * the commit's. A commit may repeat a named upload's name, never change it.
 */
export function fileNameOf(upload: { id: string; name: string }, named: string | undefined): string {
  if (upload.name === '') {
    if (named === undefined) throw new CairnError('E_UPLOAD_INVALID', `upload ${upload.id} was prepared without a name: its commit must name the file`);
    return named;
  }
  if (named !== undefined && named !== upload.name) {
    throw new CairnError('E_UPLOAD_INVALID', `upload ${upload.id} is for another name than its commit's`);
  }
  return upload.name;
}
