import { Body, CairnError, FileInfo, GRANT_EXPIRED, ManifestSha256, NodeState, isCairnError, toCairnError, unverifiedGrantExpiry } from '@cairn/protocol';
import { expectFrame } from './rpc-peer';
import { type ControllerLink, requestController } from './controller-link';
import { NodePool, isUnresponsiveError } from './node-pool';
import type { CairnLogger } from './cairn-client';
import { chunkDigests, inlineChunkDigests, type ChunkDigests } from './chunk-digests';
import { wholeFileSha256 } from './running-sha256';
import { abortScope } from './abort-scope';

export interface GetOptions {
  signal?: AbortSignal;
  onProgress?: (progress: { bytes: number; chunks: number }) => void;
}

export interface DownloadContext {
  /** Asked for each request: a get outlives a controller connection closed under it (controller-link.ts). */
  controller: ControllerLink;
  nodes: NodePool;
  window: number;
  /** Keeps a chunk's memory from reuse until `until` settles (ReceiveBuffers.holdUntil). */
  holdUntil?: (chunk: Buffer, until: Promise<unknown>) => void;
  /** Told (debug) of each replica that failed a chunk, and why. */
  log?: CairnLogger;
}

/** What a get checks its chunks with, `digests` for each chunk's SHA-256, and what it learnt of the nodes so far. */
interface ChunkCheck {
  digests: ChunkDigests;
  signal?: AbortSignal;
  /**
   * Addresses of the nodes that timed out or lost their connection during this get: asked for no
   * chunk while another replica of it is there, for as long as the get runs (the pool forgets sooner).
   */
  unresponsive: Set<string>;
}

interface ReplicaRef {
  id: string;
  address: string;
  state: NodeState;
}

/** A chunk as the manifest first listed it (what the manifest check is made on). */
interface ManifestEntry {
  index: number;
  hash: string;
  size: number;
  /** The page that listed it, whose read grant (renewed once it expires) opens it on its replicas. */
  page: ListedPage;
  /** Its place in that page. */
  at: number;
}

/** Why one replica did not give a chunk. */
interface ReplicaFailure {
  node: string;
  error: CairnError;
}

/** Manifest entries asked for per request; pages are fetched as the download reaches them. */
const MANIFEST_PAGE = 256;
/** How often one chunk's page is asked for again, for a fresh read grant, before the get gives up. */
const MAX_GRANT_RENEWALS = 2;

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
  // One of the two checks of the file as a whole: its chunk list, or (without a manifest hash) its bytes.
  const listed = file.manifestSha256 === undefined ? undefined : new ManifestSha256();
  const whole = listed ? undefined : wholeFileSha256(file.size);
  // A file checked whole keeps its hashing thread busy already: its chunks are checked here.
  const digests = whole ? inlineChunkDigests : chunkDigests(file.size, firstPage.chunks[0]?.size ?? 0);
  const hashing: Array<Promise<void>> = [];
  const ahead: Array<Promise<Buffer>> = [];
  let bytes = 0;
  let chunks = 0;
  // Aborted when the get ends, above all when it ends early (its destination full, a chunk unreadable):
  // the chunks fetched ahead stop, instead of trying the next replica, over a new connection once the
  // client has closed its own, and keeping the process alive until a node's idle timeout.
  // The caller's signal is followed by one listener, removed at the end (AbortSignal.any would keep a
  // combined signal per get alive from a long-lived caller's signal, in Node 20).
  const ended = new AbortController();
  const follow = () => ended.abort(options.signal?.reason);
  if (options.signal?.aborted) follow();
  else options.signal?.addEventListener('abort', follow, { once: true });
  const scope = abortScope(ended.signal); // one listener, however many requests wait
  const unresponsive = new Set<string>();
  try {
    for await (const entry of manifest(ctx, file, firstPage, scope.signal)) {
      listed?.add(entry.hash, entry.size);
      const fetching = fetchChunk(ctx, entry, { digests, signal: scope.signal, unresponsive });
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
    options.signal?.removeEventListener('abort', follow);
    ended.abort(new CairnError('E_ABORTED', 'the get has ended'));
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
  const answer = await requestController(ctx.controller, 'file.chunks', { name, from: 0, limit: MANIFEST_PAGE }, { signal, repeatable: true });
  const page = expectFrame(answer, 'file.chunk-page').body;
  if (!page.file) throw new CairnError('E_BAD_MESSAGE', `the controller did not say which version of ${name} it listed`);
  return { file: page.file, firstPage: page };
}

/** The manifest in order: the first page as opened, then pages asked for by the pinned file id. */
async function* manifest(ctx: DownloadContext, file: FileInfo, firstPage: ManifestPage, signal?: AbortSignal): AsyncGenerator<ManifestEntry> {
  for (let from = 0; from < file.chunkCount; from += MANIFEST_PAGE) {
    const pageAt = () => askForPage(ctx, file, from, signal);
    const page = new ListedPage(file, from === 0 ? grantedPage(file, firstPage) : await pageAt(), pageAt);
    yield* page.chunks.map((chunk, at) => ({ index: chunk.index, hash: chunk.hash, size: chunk.size, page, at }));
  }
}

/** A page that lists chunks, with the read grant that opens them. */
interface GrantedPage {
  chunks: ManifestPage['chunks'];
  grant: string;
}

async function askForPage(ctx: DownloadContext, file: FileInfo, from: number, signal?: AbortSignal): Promise<GrantedPage> {
  const answer = await requestController(ctx.controller, 'file.chunks', { name: file.name, fileId: file.id, from, limit: MANIFEST_PAGE }, { signal, repeatable: true });
  return grantedPage(file, expectFrame(answer, 'file.chunk-page').body);
}

function grantedPage(file: FileInfo, page: ManifestPage): GrantedPage {
  if (page.chunks.length === 0 || !page.grant) throw new CairnError('E_NOT_FOUND', `${file.name} changed while it was being read`);
  return { chunks: page.chunks, grant: page.grant };
}

/**
 * A page of the manifest and the read grant that opens its chunks on their nodes. A grant lives
 * GRANT_TTL_MS (@cairn/protocol), and a reader slower than that still has chunks of the page to fetch:
 * the page is then asked for again by the pinned file id (`renew`), once for all its chunks that wait.
 * It must list the same chunks as the first time, which the manifest check was made on; where they are
 * may have changed since, and their replicas are taken as listed now.
 */
class ListedPage {
  private renewing: Promise<void> | undefined;

  constructor(
    private readonly file: FileInfo,
    private current: GrantedPage,
    private readonly askAgain: () => Promise<GrantedPage>,
  ) {}

  get chunks(): GrantedPage['chunks'] {
    return this.current.chunks;
  }

  get grant(): string {
    return this.current.grant;
  }

  get fileName(): string {
    return this.file.name;
  }

  /**
   * Whether the version being read is gone: replaced or removed since it was opened (the controller
   * says not found for its pinned id). False when the controller cannot say.
   */
  async versionGone(): Promise<boolean> {
    try {
      await this.askAgain();
      return false;
    } catch (err) {
      return isCairnError(err, 'E_NOT_FOUND');
    }
  }

  /** A fresh grant in place of `stale`, unless another chunk of the page has already had one. */
  renew(stale: string): Promise<void> {
    if (this.current.grant !== stale) return Promise.resolve();
    this.renewing ??= this.askAgain()
      .then((page) => {
        if (!sameChunks(page.chunks, this.current.chunks)) {
          throw new CairnError('E_CORRUPT', `${this.file.name}: its manifest listed other chunks when asked for again`);
        }
        this.current = page;
      })
      .finally(() => (this.renewing = undefined));
    return this.renewing;
  }
}

type ListedChunk = Pick<ManifestPage['chunks'][number], 'index' | 'hash' | 'size'>;

function sameChunks(a: readonly ListedChunk[], b: readonly ListedChunk[]): boolean {
  return a.length === b.length && a.every((chunk, i) => chunk.index === b[i].index && chunk.hash === b[i].hash && chunk.size === b[i].size);
}

/** A chunk from one of its replicas, with its page's grant renewed (a few times at most) should it expire meanwhile. */
async function fetchChunk(ctx: DownloadContext, entry: ManifestEntry, check: ChunkCheck): Promise<Buffer> {
  for (let renewals = 0; ; renewals++) {
    const grant = entry.page.grant;
    const failures: ReplicaFailure[] = [];
    const payload = await readReplicas(ctx, entry, grant, check, failures);
    if (payload) return payload;
    if (renewals === MAX_GRANT_RENEWALS || !failures.some((f) => refusedAsExpired(f.error, grant))) {
      // Replicas without the chunk may mean a version replaced or removed during a read longer than
      // the controller's --gc-grace, its chunks collected since: say that, not "cluster unavailable".
      if (failures.some((f) => f.error.code === 'E_NOT_FOUND') && (await entry.page.versionGone())) {
        throw new CairnError('E_NOT_FOUND', `${entry.page.fileName} was replaced or removed while being read, and the old version's chunks were collected`);
      }
      throw unreadable(entry, failures);
    }
    await entry.page.renew(grant);
  }
}

/** The chunk from the first replica that gives it sound, or undefined with why each one tried did not. */
async function readReplicas(
  ctx: DownloadContext,
  entry: ManifestEntry,
  grant: string,
  { digests, signal, unresponsive }: ChunkCheck,
  failures: ReplicaFailure[],
): Promise<Buffer | undefined> {
  const order = replicaOrder(ctx.nodes, entry.page.chunks[entry.at].nodes, unresponsive);
  for (const [at, node] of order.entries()) {
    if (signal?.aborted) throw new CairnError('E_ABORTED', 'aborted');
    try {
      const answer = await ctx.nodes.use(node.address, (peer) => peer.request('chunk.get', { hash: entry.hash, grant }, { signal }));
      const data = expectFrame(answer, 'chunk.data');
      const payload = Buffer.from(data.payload.buffer, data.payload.byteOffset, data.payload.byteLength);
      if (data.hash !== entry.hash || payload.length !== entry.size || (await digests.digest(payload)) !== entry.hash) {
        throw new CairnError('E_CORRUPT', `node ${node.id} returned bad bytes for chunk ${entry.index}`);
      }
      return payload;
    } catch (err) {
      const error = toCairnError(err);
      if (error.code === 'E_ABORTED') throw error;
      failures.push({ node: node.id, error });
      if (isUnresponsiveError(error)) unresponsive.add(node.address);
      logFailOver(ctx, entry, node, error, order[at + 1]);
      if (error.code === 'E_CORRUPT' || error.code === 'E_NOT_FOUND') {
        // A replica that lost or rotted the chunk: tell the controller so it can repair it.
        void requestController(ctx.controller, 'chunk.bad', { hash: entry.hash, nodeId: node.id, reason: error.code }, { timeoutMs: 5_000 }).catch(
          () => undefined,
        );
      }
      if (refusedAsExpired(error, grant)) return undefined; // every replica refuses it alike
    }
  }
  return undefined;
}

function logFailOver(ctx: DownloadContext, entry: ManifestEntry, node: ReplicaRef, error: CairnError, next: ReplicaRef | undefined): void {
  ctx.log?.debug(
    { node: node.id, address: node.address, chunk: entry.index, hash: entry.hash, code: error.code, reason: error.message, next: next?.id ?? null },
    next ? 'a replica failed a chunk read: trying the next' : 'a replica failed a chunk read, and no other is left',
  );
}

/**
 * Whether a node refused a read for its grant's expiry: by the expiry the grant names, on this clock,
 * or by the node's word (its clock may run ahead of this one).
 */
function refusedAsExpired(error: CairnError, grant: string): boolean {
  return error.code === 'E_FORBIDDEN' && (error.message === GRANT_EXPIRED || (unverifiedGrantExpiry(grant) ?? Infinity) <= Date.now());
}

function unreadable(entry: ManifestEntry, failures: readonly ReplicaFailure[]): CairnError {
  // Corrupt when some replica had rotten bytes and the others had none to give: a copy reported rotten
  // is quarantined soon after (by its node, once the controller has it check the copy), so the next
  // reader of a rotten copy may well meet "not found" instead. A replica not reached leaves it open.
  const codes = failures.map((f) => f.error.code);
  const corrupt = codes.includes('E_CORRUPT') && codes.every((code) => code === 'E_CORRUPT' || code === 'E_NOT_FOUND');
  const why = failures.map((f) => `${f.node}: ${f.error.code}`).join(', ');
  const listed = entry.page.chunks[entry.at].nodes.length;
  // The controller lists every copy it knows, on nodes dead or alive: none at all is a lost chunk.
  if (listed === 0) return new CairnError('E_UNAVAILABLE', `chunk ${entry.index} has no copy left on any node (lost)`);
  return new CairnError(
    corrupt ? 'E_CORRUPT' : 'E_UNAVAILABLE',
    `chunk ${entry.index} could not be read from ${listed === 1 ? 'its only replica' : `any of its ${listed} replicas`}${why ? ` (${why})` : ''}`,
  );
}

/**
 * Live replicas first, least busy first among them, so a hot file spreads over its replicas; last, as a
 * last resort, the nodes that stopped answering this get, or any transfer of this client lately
 * (NodePool.isUnresponsive), which the controller may not have noticed yet.
 */
function replicaOrder(pool: NodePool, replicas: readonly ReplicaRef[], unresponsive: ReadonlySet<string>): ReplicaRef[] {
  const rank = (r: ReplicaRef) =>
    unresponsive.has(r.address) || pool.isUnresponsive(r.address) ? 3 : r.state === 'dead' ? 2 : r.state === 'suspect' ? 1 : 0;
  return [...replicas]
    .map((r) => ({ r, tie: Math.random() }))
    .sort((a, b) => rank(a.r) - rank(b.r) || pool.load(a.r.address) - pool.load(b.r.address) || a.tie - b.tie)
    .map(({ r }) => r);
}
