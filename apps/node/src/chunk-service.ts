import type { KeyObject } from 'node:crypto';
import { CairnError, type DataHead, Frame, GrantChecker, claimProofMatches, isCairnError, storeReceipt, toCairnError } from '@cairn/protocol';
import { isUnreadableCopy, type ChunkStore } from '@cairn/chunk-store';
import { NodePool, expectFrame, type Reply } from '@cairn/transfer';
import { ServeMemory } from './serve-memory';
import { PreparedGrantUses } from './prepared-grant-uses';

/**
 * How long one `chunk.delete` batch may run (each reclaim is a stat, an unlink and a directory fsync,
 * slow on a loaded disk). Past it the rest of the batch is answered kept, untouched: well under the
 * controller's 30 s wait (DELETE_ANSWER_MS in apps/controller), so a slow disk gets an answer out
 * instead of a closed link and a reconnect. Kept copies are safe to answer: the controller lists them
 * again only once a `chunk.check` finds them, and asks again on a later pass.
 */
export const DELETE_BATCH_BUDGET_MS = 15_000;

export interface ChunkServiceOptions {
  store: ChunkStore;
  nodeId: string;
  /** Connections to other nodes, for pulling chunks during repair. */
  nodes: NodePool;
  /** The controller's grant public key, learnt in the authenticated handshake; undefined before it. */
  grantKey: () => KeyObject | undefined;
  /**
   * Told about a chunk found bad (it is already in quarantine): by the controller's check, a claim's
   * read, or, while serving it, a file too big for a chunk or shrinking as it is read.
   */
  onQuarantined: (hash: string, reason: string) => void;
  /** Told about each chunk a client stored (or claimed), with the upload its grant names: for logs. */
  onStored?: (chunk: { uploadId: string | undefined; hash: string; bytes: number }) => void;
  /** Signs receipts for stored chunks (the cluster secret). */
  clusterSecret: string;
  /** How long a `chunk.delete` batch may run (DELETE_BATCH_BUDGET_MS; tests shorten it). */
  deleteBatchBudgetMs?: number;
}

/**
 * What a node serves. To anyone on its port (clients, other nodes): store a chunk (verified), read one
 * back (its reader verifies it), say which chunks it has — each only against a grant signed by the
 * controller for that chunk (and, for writes, this node). To the controller, over the authenticated
 * link it opened: copy a chunk from another node, delete garbage, re-verify a chunk, and say which
 * chunks prepared uploads stored here.
 */
export function createChunkService({ store, nodeId, nodes, grantKey, onQuarantined, onStored, clusterSecret, deleteBatchBudgetMs = DELETE_BATCH_BUDGET_MS }: ChunkServiceOptions) {
  const serveMemory = new ServeMemory(store);
  const preparedGrants = new PreparedGrantUses();
  /** A copy found rotten or unreadable (isUnreadableCopy) goes to quarantine and is reported, so it is repaired elsewhere. */
  const quarantineIfBad = async (hash: string, err: unknown) => {
    if (isUnreadableCopy(err) && (await store.quarantine(hash).catch(() => false))) onQuarantined(hash, toCairnError(err).code);
  };
  /** Proof for the controller that this node holds `hash` for the upload its put grant names. */
  const receiptFor = (uploadId: string | undefined, hash: string) => (uploadId ? storeReceipt(clusterSecret, { nodeId, hash, uploadId }) : undefined);
  let grants: GrantChecker | undefined; // for the controller's key of the moment
  /** `size`: of the chunk being put, which a prepared upload's grant (naming no hash) bounds. */
  const requireGrant = (grant: string | undefined, op: 'put' | 'get', hash: string, size?: number) => {
    const key = grantKey();
    if (!key) throw new CairnError('E_UNAVAILABLE', 'this node has not joined the cluster yet');
    if (grants?.publicKey !== key) grants = new GrantChecker(key);
    return grants.check(grant, { op, hash, size, nodeId });
  };

  async function forClients(frame: Frame): Promise<Reply> {
    switch (frame.type) {
      case 'chunk.put': {
        const grant = requireGrant(frame.grant, 'put', frame.hash, frame.payload.length);
        if (!grant.hashes) preparedGrants.admit(grant, frame.hash); // one chunk per prepared upload's grant
        const { stored } = await store.put(frame.hash, frame.payload);
        onStored?.({ uploadId: grant.upload, hash: frame.hash, bytes: frame.payload.length });
        return { type: 'chunk.stored', body: { hash: frame.hash, size: frame.payload.length, stored, receipt: receiptFor(grant.upload, frame.hash) } };
      }
      case 'chunk.get':
        requireGrant(frame.body.grant, 'get', frame.body.hash);
        try {
          // Served unhashed: every reader (a client, or a node copying it for repair) checks the bytes
          // against the hash and reports a bad copy, which the controller then has this node check
          // (`chunk.check`). Hashing here as well was a third SHA-256 pass over every byte of a get.
          const { payload, release } = await serveMemory.read(frame.body.hash);
          return { type: 'chunk.data', hash: frame.body.hash, payload, release };
        } catch (err) {
          await quarantineIfBad(frame.body.hash, err);
          throw err;
        }
      case 'chunk.claim': {
        // A resumed put: the client proves it has the bytes this node already holds (claims.ts).
        const { hash, grant: token, proof } = frame.body;
        const grant = requireGrant(token, 'put', hash);
        let data: Buffer;
        try {
          data = await store.get(hash, { check: true }); // verified: a rotten copy is no copy
        } catch (err) {
          await quarantineIfBad(hash, err);
          if (isUnreadableCopy(err)) throw new CairnError('E_NOT_FOUND', `chunk ${hash} is not stored here`);
          throw err;
        }
        if (!claimProofMatches(token, data, proof)) throw new CairnError('E_FORBIDDEN', `the proof for chunk ${hash} does not match its bytes`);
        await store.touch(hash); // garbage collection keeps it, as after a re-put
        onStored?.({ uploadId: grant.upload, hash, bytes: data.length });
        return { type: 'chunk.stored', body: { hash, size: data.length, stored: false, receipt: receiptFor(grant.upload, hash) } };
      }
      case 'chunk.has':
        for (const hash of frame.body.hashes) requireGrant(frame.body.grant, 'get', hash);
        return { type: 'chunk.present', body: { present: await Promise.all(frame.body.hashes.map((h) => store.has(h))) } };
      default:
        throw new CairnError('E_UNKNOWN_TYPE', `${frame.type} is not served on a node's port`);
    }
  }

  /** `link` is the controller's connection the request came over (a RequestHandler's second argument). */
  async function forController(frame: Frame, link?: { readonly isOpen: boolean }): Promise<Reply> {
    switch (frame.type) {
      case 'chunk.replicate': {
        const { hash, size, source, grant } = frame.body;
        const answer = await nodes.use(source.address, (peer) => peer.request('chunk.get', { hash, grant }, { timeoutMs: 60_000 }));
        const data = expectFrame(answer, 'chunk.data');
        if (data.hash !== hash || data.payload.length !== size) {
          throw new CairnError('E_HASH_MISMATCH', `node ${source.id} sent a different chunk for ${hash}`);
        }
        const { stored } = await store.put(hash, data.payload); // re-hashed before it is kept
        return { type: 'chunk.stored', body: { hash, size, stored } };
      }
      case 'chunk.find-prepared':
        // Asked about prepared uploads that ended without a commit (closed, aborted, expired): what their grants stored.
        return { type: 'chunk.found-prepared', body: { hashes: preparedGrants.chunksOf(frame.body.uploads) } };
      case 'chunk.delete': {
        // The controller unlisted these copies before asking. Any copy put or claimed since the batch
        // began (or within minAgeMs before) is kept, however long the batch runs: reclaim reads the age
        // under the chunk's lock, so a put or claim racing a deletion is either seen or comes after it
        // (and writes the chunk anew). A batch stops, the rest answered kept, once its link has closed:
        // nobody waits for the answer, and the controller learns the rest from this node's next report.
        // It also stops once it has run deleteBatchBudgetMs, the rest answered kept and left untouched,
        // so that the answer comes before the controller gives up on it.
        const { hashes, minAgeMs } = frame.body;
        const began = Date.now();
        const keepIfModifiedSince = began - minAgeMs;
        const deleted = [];
        for (const hash of hashes) {
          const goOn = link?.isOpen !== false && Date.now() - began < deleteBatchBudgetMs;
          deleted.push(goOn && (await store.reclaim(hash, { keepIfModifiedSince })) !== 'kept');
        }
        return { type: 'chunk.deleted', body: { deleted } };
      }
      case 'chunk.check':
        try {
          // Verified, and read the way a serve reads it (through the page cache for a chunk served
          // lately), not past the cache as a scrub does: the copy a reader reported is the one served.
          await store.get(frame.body.hash);
          return { type: 'chunk.checked', body: { ok: true } };
        } catch (err) {
          if (!isUnreadableCopy(err) && !isCairnError(err, 'E_NOT_FOUND')) throw err;
          await quarantineIfBad(frame.body.hash, err);
          return { type: 'chunk.checked', body: { ok: false } };
        }
      default:
        throw new CairnError('E_UNKNOWN_TYPE', `${frame.type} is not served to the controller`);
    }
  }

  /**
   * Whether a `chunk.put` with this head would pass its grant check, asked before its chunk arrives
   * (receive-memory.ts). The handler checks again in full (with the one-chunk-per-upload rule of a
   * prepared grant): this only decides where the chunk's memory comes from. The signature is verified
   * once for both (GrantChecker remembers what it verified).
   */
  function mayPut(head: DataHead, chunkBytes: number): boolean {
    try {
      requireGrant(head.grant, 'put', head.hash, chunkBytes);
      return true;
    } catch {
      return false;
    }
  }

  return { forClients, forController, mayPut };
}
