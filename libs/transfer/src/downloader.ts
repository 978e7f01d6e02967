import { Body, CairnError, FileInfo, ManifestSha256, NodeState, toCairnError } from '@cairn/protocol';
import { RpcPeer, expectFrame } from './rpc-peer';
import { NodePool } from './node-pool';
import { chunkDigests, inlineChunkDigests, type ChunkDigests } from './chunk-digests';
import { wholeFileSha256 } from './running-sha256';
import { abortScope } from './abort-scope';

export interface GetOptions {
  signal?: AbortSignal;
  onProgress?: (progress: { bytes: number; chunks: number }) => void;
}

export interface DownloadContext {
  controller: () => Promise<RpcPeer>;
  nodes: NodePool;
  window: number;
  /** Keeps a chunk's memory from reuse until `until` settles (ReceiveBuffers.holdUntil). */
  holdUntil?: (chunk: Buffer, until: Promise<unknown>) => void;
}

/** What a get checks its chunks with: `digests` for each chunk's SHA-256. */
interface ChunkCheck {
  digests: ChunkDigests;
  signal?: AbortSignal;
}

interface ReplicaRef {
  id: string;
  address: string;
  state: NodeState;
}

interface ManifestEntry {
  index: number;
  hash: string;
  size: number;
  nodes: ReplicaRef[];
  /** The page's signed read grant, shown to the node that serves the chunk. */
  grant: string;
}

/** Manifest entries asked for per request; pages are fetched as the download reaches them. */
const MANIFEST_PAGE = 256;

/**
 * Streams a file's bytes in order: up to `window` chunks are fetched ahead in parallel, each is
 * verified against its SHA-256, and a replica that fails or returns bad bytes is reported and the next
 * one tried. The file as a whole is checked too, and a mismatch throws E_CORRUPT before the stream
 * ends (so an atomic file writer never renames a bad file into place):
 *
 * - a file with a manifest hash (its writer named one at the commit, as this SDK does): the chunk
 *   list read is the one its writer committed (its SHA-256, see @cairn/protocol's manifestSha256),
 *   checked once the last page is read. With every chunk checked against its hash, that makes the
 *   bytes the file's, in its order, without a second SHA-256 pass over them, which a big get's speed
 *   is bounded by (docs/performance.md). A big file's chunks are hashed on a second thread
 *   (chunk-digests.ts), each where it was received, so that the main thread goes on receiving;
 * - a file without one (older, or written by an older client): the whole file's SHA-256. A big
 *   file's runs on a thread of its own (running-sha256.ts), reading each chunk where it was received:
 *   the chunk's memory is held from reuse until it is hashed, and at most `window` chunks wait for the
 *   thread, so memory stays bounded if it falls behind.
 */
export async function* downloadFile(ctx: DownloadContext, opened: OpenedFile, options: GetOptions = {}): AsyncGenerator<Buffer> {
  const { file, firstPage } = opened;
  const controller = await ctx.controller();
  // One of the two checks of the file as a whole: its chunk list, or (without a manifest hash) its bytes.
  const listed = file.manifestSha256 === undefined ? undefined : new ManifestSha256();
  const whole = listed ? undefined : wholeFileSha256(file.size);
  // A file checked whole keeps its hashing thread busy already: its chunks are checked here.
  const digests = whole ? inlineChunkDigests : chunkDigests(file.size, firstPage.chunks[0]?.size ?? 0);
  const hashing: Array<Promise<void>> = [];
  const ahead: Array<Promise<Buffer>> = [];
  let bytes = 0;
  let chunks = 0;
  const scope = abortScope(options.signal); // one listener on the caller's signal, however many requests wait
  try {
    for await (const entry of manifest(controller, file, firstPage, scope.signal)) {
      listed?.add(entry.hash, entry.size);
      const fetching = fetchChunk(ctx, controller, entry, { digests, signal: scope.signal });
      fetching.catch(() => undefined); // awaited in order below; avoid an unhandled rejection meanwhile
      ahead.push(fetching);
      if (ahead.length >= ctx.window) yield await emit(await ahead.shift()!);
    }
    // The whole list is known before the last chunks are given out: a file of fewer chunks than the
    // window with a wrong list fails before any of its bytes are given out.
    if (listed && listed.digest() !== file.manifestSha256) throw notTheFile('chunk list');
    while (ahead.length > 0) yield await emit(await ahead.shift()!);

    await Promise.all(hashing); // every chunk hashed before the digest is asked for
    if (bytes !== file.size) throw notTheFile('size');
    if (whole && (await whole.digest()) !== file.sha256) throw notTheFile('SHA-256');
  } catch (err) {
    throw toCairnError(err); // a hashing thread that failed says so as E_INTERNAL, like a put's
  } finally {
    scope.close();
    whole?.close();
    digests.close();
  }

  function notTheFile(what: string): CairnError {
    return new CairnError('E_CORRUPT', `${file.name}: the chunks read are not the file committed (its ${what} differs)`);
  }

  async function emit(chunk: Buffer): Promise<Buffer> {
    if (whole) {
      const hashed = whole.update(chunk);
      hashed.catch(() => undefined); // awaited in order below, or by the digest
      ctx.holdUntil?.(chunk, hashed);
      hashing.push(hashed);
      if (hashing.length > ctx.window) await hashing.shift();
    }
    bytes += chunk.length;
    chunks++;
    options.onProgress?.({ bytes, chunks });
    return chunk;
  }
}

/** A file about to be read: its info, and the first page of its manifest, both from one request. */
export interface OpenedFile {
  file: FileInfo;
  firstPage: ManifestPage;
}

type ManifestPage = Body<'file.chunk-page'>;

/**
 * Asks for the first manifest page by name alone: the answer says which version of the file that is,
 * so a get costs one request to the controller before the chunks (a small file: two in all).
 */
export async function openFile(ctx: DownloadContext, name: string, signal?: AbortSignal): Promise<OpenedFile> {
  const controller = await ctx.controller();
  const page = expectFrame(await controller.request('file.chunks', { name, from: 0, limit: MANIFEST_PAGE }, { signal }), 'file.chunk-page').body;
  if (!page.file) throw new CairnError('E_BAD_MESSAGE', `the controller did not say which version of ${name} it listed`);
  return { file: page.file, firstPage: page };
}

/** The manifest in order: the first page as opened, then pages asked for by the pinned file id. */
async function* manifest(controller: RpcPeer, file: FileInfo, firstPage: ManifestPage, signal?: AbortSignal): AsyncGenerator<ManifestEntry> {
  for (let from = 0; from < file.chunkCount; from += MANIFEST_PAGE) {
    const page =
      from === 0
        ? firstPage
        : expectFrame(await controller.request('file.chunks', { name: file.name, fileId: file.id, from, limit: MANIFEST_PAGE }, { signal }), 'file.chunk-page').body;
    if (page.chunks.length === 0 || !page.grant) throw new CairnError('E_NOT_FOUND', `${file.name} changed while it was being read`);
    const grant = page.grant;
    yield* page.chunks.map((chunk) => ({ ...chunk, grant }));
  }
}

async function fetchChunk(ctx: DownloadContext, controller: RpcPeer, entry: ManifestEntry, { digests, signal }: ChunkCheck): Promise<Buffer> {
  const failures: string[] = [];
  for (const node of replicaOrder(ctx.nodes, entry.nodes)) {
    if (signal?.aborted) throw new CairnError('E_ABORTED', 'aborted');
    try {
      const answer = await ctx.nodes.use(node.address, (peer) => peer.request('chunk.get', { hash: entry.hash, grant: entry.grant }, { signal }));
      const data = expectFrame(answer, 'chunk.data');
      const payload = Buffer.from(data.payload.buffer, data.payload.byteOffset, data.payload.byteLength);
      if (data.hash !== entry.hash || payload.length !== entry.size || (await digests.digest(payload)) !== entry.hash) {
        throw new CairnError('E_CORRUPT', `node ${node.id} returned bad bytes for chunk ${entry.index}`);
      }
      return payload;
    } catch (err) {
      const error = toCairnError(err);
      if (error.code === 'E_ABORTED') throw error;
      failures.push(`${node.id}: ${error.code}`);
      if (error.code === 'E_CORRUPT' || error.code === 'E_NOT_FOUND') {
        // A replica that lost or rotted the chunk: tell the controller so it can repair it.
        void controller
          .request('chunk.bad', { hash: entry.hash, nodeId: node.id, reason: error.code }, { timeoutMs: 5_000 })
          .catch(() => undefined);
      }
    }
  }
  // Corrupt when some replica had rotten bytes and the others had none to give: a copy reported rotten
  // is quarantined soon after (by its node, once the controller has it check the copy), so the next
  // reader of a rotten copy may well meet "not found" instead. A replica not reached leaves it open.
  const corrupt =
    failures.some((f) => f.endsWith('E_CORRUPT')) && failures.every((f) => f.endsWith('E_CORRUPT') || f.endsWith('E_NOT_FOUND'));
  throw new CairnError(
    corrupt ? 'E_CORRUPT' : 'E_UNAVAILABLE',
    `chunk ${entry.index} of ${entry.nodes.length} replica(s) could not be read${failures.length ? ` (${failures.join(', ')})` : ''}`,
  );
}

/** Live replicas first, least busy first among them, so a hot file spreads over its replicas. */
function replicaOrder(pool: NodePool, replicas: readonly ReplicaRef[]): ReplicaRef[] {
  const rank = (r: ReplicaRef) => (r.state === 'dead' ? 2 : r.state === 'suspect' ? 1 : 0);
  return [...replicas]
    .map((r) => ({ r, tie: Math.random() }))
    .sort((a, b) => rank(a.r) - rank(b.r) || pool.load(a.r.address) - pool.load(b.r.address) || a.tie - b.tie)
    .map(({ r }) => r);
}

