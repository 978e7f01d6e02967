import type { Logger } from 'pino';
import { CLOSE_CODES, CairnError, type NodeInfo, isCairnError, toCairnError } from '@cairn/protocol';
import { CatalogStore, ChunkHealth, placeChunk } from '@cairn/registry';
import { expectFrame, type RpcPeer } from '@cairn/transfer';
import { Cluster } from './cluster';
import { DeletionsInFlight } from './deletions-in-flight';
import { UnlistedCopies } from './unlisted-copies';
import { GrantSigner } from './security/grant-signer';
import { PlanSchedule } from './plan-schedule';
import { PreparedCopyFinder } from './prepared-copy-finder';
import { SoundCopies } from './sound-copies';
import { inMissingDomains, mayBeUnderSpread } from './spread-choice';
import { copiesToRemove, type SurplusCopy } from './surplus-choice';

export interface HealerOptions {
  catalog: CatalogStore;
  cluster: Cluster;
  log: Logger;
  /**
   * How long a chunk stays unreferenced before its replicas are deleted; also the age under which a
   * node keeps a copy it is asked to delete (a put or claim refreshes it), surplus copies included.
   */
  gcGraceMs: number;
  /** Signs the read grant the target node shows the source node. */
  grants: GrantSigner;
  /** Chunk copies in flight at once, so repair does not starve clients. */
  repairConcurrency: number;
  /** Bytes per second repair copies at most, across all copies (0: no cap). */
  repairBytesPerSecond: number;
  intervalMs: number;
  /** Chunks one plan takes on for repair and for trimming (PLAN_PAGE), and one GC pass (GC_PAGE); tests shorten them. */
  pageSize?: number;
  /** How long a node has to answer a deletion before its link is closed (DELETE_ANSWER_MS; tests shorten it). */
  deleteAnswerMs?: number;
}

/**
 * Short chunks one plan hands its copies, and surplus ones its trims: many, because finding them reads
 * the whole catalog (seconds at a million chunks) while copying or trimming a small one takes about a
 * millisecond. Plans of 256, one a second, repaired ~256 small chunks a second whatever the disks
 * could do, and ~70 at a million chunks.
 */
const PLAN_PAGE = 4_096;
/**
 * How long a prepared upload (`upload.prepare`) may wait for its commit. Short: its uploads are
 * taken within seconds by a client putting many small files, and one left over is aborted when its
 * connection closes.
 */
export const PREPARED_USABLE_MS = 60_000;
/** A prepared upload's grant outlives the time its commit is taken by this much (clock skew, a slow put). */
export const PREPARED_GRANT_SLACK_MS = 5_000;
/** Garbage one pass deletes: an index finds it, so a pass costs little however big the catalog. */
const GC_PAGE = 256;
/** GC reads past garbage it cannot delete now (see collectGarbage) at most 1/this of the time. */
const STRANDED_SHARE_INVERSE = 20;
/**
 * How long one plan's copies and trims go on before the healer plans again (when nothing ends them
 * sooner: see `sliceOver`), at the least; and at the least this many times the plan's scan, so that
 * scans stay a small part of a long repair. What else happened meanwhile (a file removed, a report
 * reconciled) waits for the next plan at most this long, with the copies already under way.
 */
const PLAN_SLICE_MS = 5_000;
const PLAN_SLICE_SCANS = 10;

/**
 * One step of a plan. `scanMs`: how long its catalog scan took; `unfinished`: the next tick should plan
 * again; `moreAtOnce`: it got work done (a copy made, a copy deleted) and left some of what it found
 * (its page was full, or cut short), so the next plan need not wait for the timer. Work that all failed
 * does wait for it.
 */
interface PlanStep {
  scanMs: number;
  unfinished: boolean;
  moreAtOnce: boolean;
}
/** A step that waits while repair goes on at once: it plans again with the next plan. */
const WAITING_FOR_REPAIR: PlanStep = { scanMs: 0, unfinished: true, moreAtOnce: true };
/** A step with nothing to look for: it read nothing and left nothing. */
const NOTHING_TO_DO: PlanStep = { scanMs: 0, unfinished: false, moreAtOnce: false };

/**
 * How long a node has to answer a `chunk.delete`. No answer by then, the controller closes the link:
 * only the node's report over a new one (which waits for the deletion) says the deletion has ended.
 */
const DELETE_ANSWER_MS = 30_000;
/** How long a node has to say what prepared uploads stored (a look-up in memory). */
const FIND_PREPARED_TIMEOUT_MS = 10_000;
/**
 * Checks of reported copies (`chunk.check`) asked of one node at once. Any read token may report a
 * copy bad, and each report of a new copy costs its node a read: without a cap, a client reporting
 * copy after copy would fill the node's link (64 requests in flight) with checks, and the deletions
 * and copies the healer sends over it would be refused. Past the cap a report is let go: the reader
 * has read another replica already, and the node's scrub finds a bad copy in time. The healer's own
 * checks (a repair source in doubt) count, but are never let go.
 */
export const MAX_CHECKS_PER_NODE = 8;
/** How long a placement waits for deletions that leave it too few nodes (a client waits 30 s in all). */
export const PLACEMENT_WAITS_FOR_DELETIONS_MS = 5_000;

export interface HealerCounters {
  queued: number;
  running: number;
  copiedChunks: number;
  copiedBytes: number;
  deletedChunks: number;
  /** Short chunks the last repair plan could not place a copy of: no node could take one, for room or for too few nodes (at least this many). */
  waitingForRoom: number;
}

/**
 * The controller's self-healing loop. Each pass asks the registry what is wrong — chunks with fewer
 * healthy replicas than their factor (fewest first), chunks whose copies share a zone while another
 * zone could take one (under-spread), surplus replicas, garbage past its grace period —
 * and sends the work to nodes: copies go node to node (the target pulls from a healthy source), never
 * through the controller. Nothing is kept in memory between passes: the plan is recomputed from the
 * catalog, so a controller restart simply resumes where the catalog says things stand. The timer's
 * passes recompute it only when it may have changed (PlanSchedule): finding the short and surplus
 * chunks reads the whole catalog. A pass whose work went well and left more (a full page) is followed
 * by the next one at once, not a tick later (PlanStep.moreAtOnce).
 */
export class Healer {
  readonly counters: HealerCounters = { queued: 0, running: 0, copiedChunks: 0, copiedBytes: 0, deletedChunks: 0, waitingForRoom: 0 };
  /** The current repair plan's chunks that found no node with room, and why the first did not. */
  private noRoom = { chunks: 0, why: '' };
  private timer: NodeJS.Timeout | undefined;
  private passing = false;
  /** A pass was asked for while one was under way: run another once it ends. */
  private passAgain = false;
  private stopped = false;
  /** Checks of reported copies under way, by `hash@node`. */
  private readonly checking = new Map<string, Promise<void>>();
  /** Checks under way per node (MAX_CHECKS_PER_NODE). */
  private readonly checksPerNode = new Map<string, number>();
  private readonly sound = new SoundCopies();
  /** The pacing clock: when the next copy may start under the repair rate cap. */
  private nextCopyAt = 0;
  private readonly deleting = new DeletionsInFlight();
  /** Copies unlisted for a deletion the node did not confirm: checked and listed again if there. */
  private readonly unlisted: UnlistedCopies;
  /** When a node last kept a surplus copy it was asked to delete (too young), by `hash@node`. */
  private readonly keptAt = new Map<string, number>();
  private readonly schedule = new PlanSchedule();
  private readonly preparedCopies = new PreparedCopyFinder({ ask: (node, uploads) => this.askForPreparedCopies(node, uploads) });
  /** When GC may next read past garbage it cannot delete now (monotonic clock; see collectGarbage). */
  private readPastStrandedAt = 0;
  /** The nodes' view as a pass last saw it (nodeView), and when a pass first saw it so. */
  private lastView: string | undefined;
  private viewChangedAt = -Infinity;
  /** Runs at the start of every pass, which waits for it (`observePasses`). */
  private observer: (() => Promise<void>) | undefined;

  constructor(private readonly options: HealerOptions) {
    this.unlisted = new UnlistedCopies({ catalog: options.catalog, cluster: options.cluster, log: options.log });
  }

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.options.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.preparedCopies.stop();
  }

  /**
   * Has `observe` run at the start of every pass, before anything is planned: the health log, which must
   * see chunks short of copies before a repair of a few milliseconds has made them whole again. It must
   * not reject.
   */
  observePasses(observe: () => Promise<void>): void {
    this.observer = observe;
  }

  /**
   * A pass now, or right after the one under way: something needs repair (a copy found bad), and the
   * pass under way may have planned before it did. (The timer's own ticks skip a busy healer instead.)
   */
  requestPass(): void {
    if (this.passing) this.passAgain = true;
    else void this.pass();
  }

  /**
   * The timer's next pass plans again: something happened that may leave chunks with too few or too
   * many replicas (a file removed, say), though nothing needs repair at once.
   */
  planAgain(): void {
    this.schedule.changed();
  }

  /**
   * A file was committed from an upload begun at `begunAt`. Its chunks are on as many nodes as its
   * factor, but one of those may have died or started draining since: if the nodes' view changed
   * after the upload began, the plan made then did not see this file.
   */
  committed(begunAt: number): void {
    if (this.viewChangedAt >= begunAt) this.schedule.changed();
  }

  /**
   * The nodes that may still be deleting `hash` (see DeletionsInFlight): a placement read after its
   * upload holds the chunk leaves them out, so no node it is handed is about to delete it.
   */
  nodesDeleting(hash: string): ReadonlySet<string> {
    return this.deleting.nodesDeleting(hash);
  }

  /**
   * How long after it is prepared an upload may still commit: PREPARED_USABLE_MS, or less with a
   * shorter grace period, which is also how young a copy a node keeps when asked to delete it.
   */
  get preparedUsableMs(): number {
    return Math.min(PREPARED_USABLE_MS, this.options.gcGraceMs);
  }

  /**
   * Clears the commit of an upload prepared at `preparedAt` (`performance.now()`) that records
   * `copies`, whose chunks went to the nodes before anything held them; `release` once the commit's
   * transaction has ended. Refused (E_UPLOAD_INVALID, the client puts the file again the usual way)
   * when it comes too late, when a node it names has registered again since (it may have restarted
   * and lost the new age of a copy it already had: a re-put refreshes the age without an fsync), or
   * when a deletion of a copy may be under way. Why that is enough: a copy was put after `preparedAt`,
   * and a deletion that ended before this call began before now, so less than the grace period after
   * the put: the node kept the copy (it keeps what was put or re-put within the grace period, or since
   * the batch began).
   */
  holdPreparedCommit(preparedAt: number, copies: readonly { hash: string; nodes: readonly string[] }[]): { release: () => void } {
    if (performance.now() - preparedAt >= this.preparedUsableMs) {
      this.checkRefusedCopies(copies);
      throw new CairnError('E_UPLOAD_INVALID', 'the prepared upload is too old to commit: put the file again');
    }
    if (copies.some(({ nodes }) => nodes.some((node) => this.options.cluster.registeredAfter(node, preparedAt)))) {
      this.checkRefusedCopies(copies);
      throw new CairnError('E_UPLOAD_INVALID', 'a node of this prepared upload has registered again since: put the file again');
    }
    const hold = this.deleting.holdForCommit(copies);
    if (!hold) throw new CairnError('E_UPLOAD_INVALID', 'a copy of this prepared upload may be under deletion: put the file again');
    return hold;
  }

  /**
   * The copies a refused prepared commit proved (their nodes' receipts): nothing in the catalog knows
   * them, and a node lists its chunks only when it registers, so unlisted they would take up space
   * until then (a file put again the usual way may even hold the same chunk elsewhere, making them
   * surplus). They go to the copies checked and listed again if there (UnlistedCopies), after which GC
   * or surplus trimming deals with them. Not for a refusal over a deletion under way: that deletion's
   * answer lists again what its node kept.
   */
  private checkRefusedCopies(copies: readonly { hash: string; nodes: readonly string[] }[]): void {
    if (copies.length === 0) return;
    for (const { hash, nodes } of copies) for (const node of nodes) this.unlisted.add(node, [hash]);
    this.schedule.changed();
  }

  /**
   * The chunks an abandoned upload held and never recorded (UploadSweeper): its client may have died
   * after a node stored one and before recording it, and nodes list their chunks only when they
   * register, so such a copy would take up space until then. Each live node is asked (UnlistedCopies:
   * checked, and listed if there); a copy listed so is referenced by nothing, unless a file or another
   * upload holds the same chunk, and GC takes it after its grace period.
   */
  checkAbandonedCopies(hashes: readonly string[]): void {
    if (hashes.length === 0) return;
    for (const node of this.options.cluster.liveNodeIds()) this.unlisted.add(node, hashes);
    this.schedule.changed();
  }

  /**
   * Prepared uploads that ended without a commit (their connection closed, their client aborted them,
   * or they expired): a node may have taken one's chunk by then, and a prepared grant names no chunk,
   * so only the node knows which (`chunk.find-prepared`, answered while the grant lives; the ids are
   * gathered per node, PreparedCopyFinder). What each node names goes to the copies checked and listed
   * if there, for GC, as an abandoned upload's held chunks do. A node that cannot be asked now lists
   * its chunks when it registers again; an older node answers E_UNKNOWN_TYPE: nothing is found then.
   */
  findPreparedCopies(uploads: readonly { id: string; nodes: readonly string[] }[]): void {
    this.preparedCopies.find(uploads);
  }

  /** One `chunk.find-prepared` (PreparedCopyFinder gathers the ids); never rejects. */
  private async askForPreparedCopies(node: string, uploads: string[]): Promise<void> {
    const peer = this.options.cluster.peer(node);
    if (!peer) return;
    try {
      const answer = await peer.request('chunk.find-prepared', { uploads }, { timeoutMs: FIND_PREPARED_TIMEOUT_MS });
      const { hashes } = expectFrame(answer, 'chunk.found-prepared').body;
      if (hashes.length === 0) return;
      this.unlisted.add(node, hashes);
      this.schedule.changed();
    } catch (err) {
      this.options.log.debug({ err, node }, 'asking a node what prepared uploads stored failed');
    }
  }

  /** Resolves once the deletions of `hash` on `nodes` under way at the call have ended, or after `ms`. */
  async deletionsSettled(hash: string, nodes: Iterable<string>, ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
    await Promise.race([this.deleting.settled(hash, nodes), late]);
    clearTimeout(timer);
  }

  /** `nodeId` finished its chunk report over `link` (handlers.ts): see DeletionsInFlight. */
  nodeReported(nodeId: string, link: unknown): void {
    this.deleting.nodeReported(nodeId, link);
    this.schedule.changed(); // its report may have listed copies, or dropped some
  }

  /** `nodeId` was forgotten (Cluster.forget): nothing of it is to be checked or listed again. */
  nodeForgotten(nodeId: string): void {
    this.unlisted.dropNode(nodeId);
    this.deleting.nodeForgotten(nodeId); // its checks under way end with its closed link, and count down then
    this.schedule.changed();
  }

  /**
   * Forgets a replica its node no longer has (it quarantined the chunk, or a check failed). Use this,
   * not the catalog's removeReplica: a copy the healer is about to list again must stay unlisted.
   */
  async removeReplica(hash: string, nodeId: string): Promise<void> {
    this.unlisted.gone(hash, nodeId);
    this.sound.forget(`${hash}@${nodeId}`);
    await this.options.catalog.removeReplica(hash, nodeId);
    this.schedule.changed();
  }

  /**
   * Has a node re-verify a copy someone found bad (a reader's `chunk.bad`, or a repair that pulled
   * wrong bytes from it): a word from elsewhere is not proof, so only the node's own answer drops the
   * replica, and then repair starts. Never throws: no answer leaves the replica as it was. Reports of
   * a copy whose check is under way join it (many readers of a hot file meet the same rotten copy),
   * and reports of a copy found sound lately are not checked again (`SoundCopies`).
   */
  checkReplica(hash: string, nodeId: string, { capped = true }: { capped?: boolean } = {}): Promise<void> {
    const key = `${hash}@${nodeId}`;
    if (this.sound.has(key)) return Promise.resolve();
    const running = this.checking.get(key);
    if (running) return running;
    const underWay = this.checksPerNode.get(nodeId) ?? 0;
    if (capped && underWay >= MAX_CHECKS_PER_NODE) {
      this.options.log.debug({ hash, node: nodeId }, 'report of a bad replica let go: its node has enough checks under way');
      return Promise.resolve();
    }
    this.checksPerNode.set(nodeId, underWay + 1);
    this.options.log.warn({ hash, node: nodeId }, 'checking a replica found bad');
    const check = this.askToCheck(hash, nodeId).finally(() => {
      this.checking.delete(key);
      const left = (this.checksPerNode.get(nodeId) ?? 1) - 1;
      if (left > 0) this.checksPerNode.set(nodeId, left);
      else this.checksPerNode.delete(nodeId);
    });
    this.checking.set(key, check);
    return check;
  }

  private async askToCheck(hash: string, nodeId: string): Promise<void> {
    const { cluster, log } = this.options;
    const peer = cluster.peer(nodeId);
    if (!peer) return;
    try {
      const answer = expectFrame(await peer.request('chunk.check', { hash }, { timeoutMs: 30_000 }), 'chunk.checked');
      if (answer.body.ok) return this.sound.add(`${hash}@${nodeId}`);
      await this.removeReplica(hash, nodeId);
      log.warn({ hash, node: nodeId }, 'node confirmed a bad replica; repairing');
      this.requestPass();
    } catch (err) {
      log.warn({ hash, node: nodeId, err: (err as Error).message }, 'could not verify a reported replica');
    }
  }

  /** One round of repair, surplus removal and garbage collection; overlapping calls are skipped. */
  pass(): Promise<void> {
    return this.run(true);
  }

  /** The timer's round: the same, but repair and surplus are planned only when PlanSchedule says so. */
  tick(): Promise<void> {
    return this.run(false);
  }

  private async run(planAnyway: boolean): Promise<void> {
    if (this.passing || this.stopped) return;
    this.passing = true;
    let goOn = false; // work went well and more is waiting
    try {
      await this.observer?.();
      if ((await this.unlisted.confirm()) > 0) this.schedule.changed(); // a copy listed again may be surplus
      const view = this.nodeView();
      if (view !== this.lastView) {
        this.lastView = view;
        this.viewChangedAt = Date.now();
      }
      if (planAnyway || this.schedule.due(view, performance.now())) goOn = await this.plan(view);
      // Cheap: an index says which chunks are past their grace period.
      if (await this.collectGarbage()) goOn = true;
    } catch (err) {
      this.options.log.warn({ code: toCairnError(err).code }, `healing pass failed: ${toCairnError(err).message}`);
    } finally {
      this.passing = false;
    }
    if (this.passAgain && !this.stopped) {
      this.passAgain = false;
      await this.pass();
    } else if (goOn && !this.stopped) {
      // Copies or deletions are going well and more are waiting: the next ones now, not a tick later.
      setImmediate(() => void this.tick()); // run() does nothing once stopped
    }
  }

  /** What each node looks like to a plan: a change here can change the plan. */
  private nodeView(): string {
    const { cluster } = this.options;
    return cluster
      .list()
      // `state` says `draining` whether the node is alive or suspect, and only an alive one is a source.
      .map((n) => `${n.id}:${n.state}:${cluster.isAlive(n.id) ? 'alive' : '-'}:${cluster.hasReported(n.id) ? 'reported' : '-'}:${cluster.peer(n.id) ? 'linked' : '-'}`)
      .join(' ');
  }

  /** Returns whether the next plan should come at once (see PlanStep). */
  private async plan(view: string): Promise<boolean> {
    this.schedule.begin(view, performance.now());
    let scanMs = 0;
    let unfinished = true; // a plan that failed is tried again
    try {
      const repair = await this.repair();
      // Spreading and trimming wait while repair goes on at once: a chunk in one zone still has its
      // factor, a surplus copy costs only room, and their scans would add to what each plan costs. The
      // next plan that finds repair done, or stuck, spreads, then trims: the copies just made for
      // spreading leave surplus ones in the doubled zones, which this same plan's trimming removes.
      const spread = repair.moreAtOnce ? WAITING_FOR_REPAIR : await this.spread();
      const trim = repair.moreAtOnce ? WAITING_FOR_REPAIR : await this.removeSurplus();
      scanMs = repair.scanMs + spread.scanMs + trim.scanMs;
      unfinished = repair.unfinished || spread.unfinished || trim.unfinished;
      return repair.moreAtOnce || spread.moreAtOnce || trim.moreAtOnce;
    } finally {
      this.schedule.end(scanMs, unfinished);
    }
  }

  /**
   * Chunks short of their factor, fewest healthy copies first, get the copies they lack (`copyEach`).
   * The copies stop early, leaving the rest of the page to the next plan (`sliceOver`).
   */
  private async repair(): Promise<PlanStep> {
    const { catalog, cluster, pageSize: page = PLAN_PAGE } = this.options;
    const started = performance.now();
    // A chunk with no copy to pull from (lost, or only on suspect nodes) cannot be repaired now: a page
    // full of them would hide the rest.
    const chunks = await catalog.underReplicatedChunks({
      healthyNodes: cluster.healthyNodeIds(),
      limit: page,
      sourceNodes: cluster.sourceNodeIds(),
    });
    const scanMs = performance.now() - started;
    this.noRoom = { chunks: 0, why: '' };
    const step = await this.copyEach(chunks, { scanMs, page }, (chunk) => Math.max(1, chunk.required - chunk.healthy.length), (chunk) =>
      this.repairChunk(chunk),
    );
    // A plan cut short before it tried a chunk (its slice over) decides nothing: the count stays.
    if (this.noRoom.chunks > 0 || chunks.length === 0 || step.copied > 0) this.noteWaitingForRoom();
    return step;
  }

  /**
   * Says when repair begins and ends waiting for room (one line each, not one per chunk: a full
   * cluster has thousands), and keeps the count `status` shows.
   */
  private noteWaitingForRoom(): void {
    const { chunks, why } = this.noRoom;
    const before = this.counters.waitingForRoom;
    this.counters.waitingForRoom = chunks;
    if (chunks > 0 && before === 0) {
      this.options.log.warn(
        { chunks },
        `cannot repair ${chunks === 1 ? '1 chunk' : `${chunks} chunks`} yet: ${why}; they wait for a node to take them (add a node or capacity, or remove files)`,
      );
    } else if (chunks === 0 && before > 0) {
      this.options.log.info('repair no longer waits for room');
    }
  }

  /**
   * Chunks whose healthy copies share failure domains while the healthy nodes have others (the
   * catalog's `underSpreadChunks`: HDFS's mis-replicated blocks, made while a zone was full or down,
   * or before repair placed by zone) get one more copy each, in a domain they lack, copied as repair
   * copies (its concurrency, rate and counters). The chunk is then in surplus, and trimming, which
   * keeps the copies spread (`copiesToRemove`), removes one from a doubled domain, never the new one,
   * which alone holds its domain: the chunk ends spread with its factor, and leaves both lists. A chunk
   * no missing domain has room for waits for room like a repair (`retryForRoom`), not the next tick.
   */
  private async spread(): Promise<PlanStep> {
    const { catalog, cluster, log, pageSize: page = PLAN_PAGE } = this.options;
    // All the healthy nodes, as repair counts them: a copy on one not yet reported makes the chunk
    // surplus, not under-spread, and its report then leads trimming to the copy to remove.
    const healthyNodes = cluster.healthyNodeIds();
    if (!mayBeUnderSpread(cluster.candidatesOf(healthyNodes))) return NOTHING_TO_DO;
    const started = performance.now();
    const chunks = await catalog.underSpreadChunks({ healthyNodes, limit: page });
    const scanMs = performance.now() - started;
    const { copied, ...step } = await this.copyEach(chunks, { scanMs, page }, () => 1, (chunk) => this.spreadChunk(chunk));
    if (copied > 0) log.info({ chunks: copied }, 'copied chunks whose copies shared a zone into another; trimming removes the doubled ones');
    return step;
  }

  /**
   * Copies for each of `chunks` (`copyChunk` says whether copies were asked for), `copies(chunk)`
   * copies each as pacing counts them, at most `repairConcurrency` at once and under the repair rate,
   * until the plan's slice is over (`sliceOver`). `unfinished`: copies were asked for (made or failed:
   * the next plan looks again); a page of chunks nothing could be done for waits for a change, or for
   * room when placing failed for lack of it. `copied`: how many copies were made.
   */
  private async copyEach(
    chunks: readonly ChunkHealth[],
    { scanMs, page }: { scanMs: number; page: number },
    copies: (chunk: ChunkHealth) => number,
    copyChunk: (chunk: ChunkHealth) => Promise<boolean>,
  ): Promise<PlanStep & { copied: number }> {
    const sliceOver = this.sliceOver(scanMs);
    const copiedBefore = this.counters.copiedChunks;
    this.counters.queued = chunks.length;
    let attempted = false;
    let next = 0;
    const worker = async () => {
      while (next < chunks.length && !sliceOver()) {
        const chunk = chunks[next++];
        await this.pace(chunk.size * copies(chunk));
        this.counters.running++;
        try {
          if (await copyChunk(chunk)) attempted = true;
        } finally {
          this.counters.running--;
          this.counters.queued = Math.max(0, this.counters.queued - 1);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.options.repairConcurrency, chunks.length) }, worker));
    this.counters.queued = 0;
    const left = next < chunks.length || chunks.length === page;
    const copied = this.counters.copiedChunks - copiedBefore;
    return { scanMs, unfinished: attempted, moreAtOnce: left && copied > 0, copied };
  }

  /**
   * Whether a plan whose scan just ended should stop handing out work: the nodes look different from
   * how they looked then (a source or a target may have died; what is most urgent may differ), a copy
   * was found bad (`requestPass`: its repair should not wait), or the plan's slice of time is over
   * (PLAN_SLICE_MS, or PLAN_SLICE_SCANS times its scan). The view is read after the scan, not before:
   * one that changes during each seconds-long scan must not leave every plan without work.
   */
  private sliceOver(scanMs: number): () => boolean {
    const view = this.nodeView();
    const ends = performance.now() + Math.max(PLAN_SLICE_MS, PLAN_SLICE_SCANS * scanMs);
    return () => this.stopped || this.passAgain || performance.now() >= ends || this.nodeView() !== view;
  }

  /** Waits so that repair copies stay under `repairBytesPerSecond` on average. */
  private async pace(bytes: number): Promise<void> {
    const rate = this.options.repairBytesPerSecond;
    if (rate <= 0) return;
    const now = Date.now();
    const start = Math.max(now, this.nextCopyAt);
    this.nextCopyAt = start + (bytes / rate) * 1000;
    if (start > now) await new Promise((resolve) => setTimeout(resolve, start - now));
  }

  /** Whether copies were asked for: a chunk with no source or no room for a copy waits for a change. */
  private async repairChunk(chunk: ChunkHealth): Promise<boolean> {
    const { cluster } = this.options;
    // Alive now (copies may start minutes after the plan): healthy copies, or, only when none is left,
    // a draining node's, which no longer count but are still there.
    const alive = (ids: readonly string[]) => ids.filter((id) => cluster.isAlive(id));
    const healthy = alive(chunk.healthy);
    const sources = healthy.length > 0 ? healthy : alive(chunk.holders);
    if (sources.length === 0) return false; // its sources died since the plan
    let targets: string[];
    try {
      targets = placeChunk({
        replicas: chunk.required - chunk.healthy.length,
        size: chunk.size,
        candidates: cluster.placementCandidates(new Set(chunk.holders), chunk.size),
        // The copies that count, as their number does: their zones are taken, so that a zone with room
        // and no copy gets the new one (a suspect holder's too: it most likely comes back).
        placed: cluster.candidatesOf(chunk.healthy),
      });
    } catch (err) {
      if (!isCairnError(err, 'E_NO_NODES')) throw err;
      if (this.noRoom.chunks++ === 0) this.noRoom.why = err.message;
      this.options.log.debug({ hash: chunk.hash }, `cannot repair yet: ${err.message}`);
      this.schedule.retryForRoom(performance.now()); // room comes with heartbeats, which the view leaves out
      return false;
    }
    await this.copyTo(chunk, sources, targets);
    return true;
  }

  /**
   * Whether a copy was asked for: one, from an alive healthy copy, onto a node with room in a failure
   * domain the chunk's healthy copies lack (see `spread`). None with room: it waits like a repair.
   */
  private async spreadChunk(chunk: ChunkHealth): Promise<boolean> {
    const { cluster, log } = this.options;
    const sources = chunk.healthy.filter((id) => cluster.isAlive(id));
    if (sources.length === 0) return false; // its sources died since the plan: repair's, soon
    const placed = cluster.candidatesOf(chunk.healthy);
    let targets: string[];
    try {
      const candidates = inMissingDomains(cluster.placementCandidates(new Set(chunk.holders), chunk.size), placed);
      targets = placeChunk({ replicas: 1, size: chunk.size, candidates, placed });
    } catch (err) {
      if (!isCairnError(err, 'E_NO_NODES')) throw err;
      // Quietly: the chunk has its factor, only not across zones, and may wait long for room there.
      log.debug({ hash: chunk.hash }, 'cannot spread yet: no room in the zones its copies lack');
      this.schedule.retryForRoom(performance.now());
      return false;
    }
    await this.copyTo(chunk, sources, targets);
    return true;
  }

  /**
   * Has each target pull `chunk` from one of `sources` (in turn), and lists the copies made. A failed
   * copy is left for the next plan.
   */
  private async copyTo(chunk: ChunkHealth, sources: readonly string[], targets: readonly string[]): Promise<void> {
    const { cluster, catalog, log } = this.options;
    await Promise.all(
      targets.map(async (target, i) => {
        const source = cluster.requireRef(sources[i % sources.length]);
        const peer = cluster.peer(target);
        if (!peer) return;
        try {
          const answer = await peer.request(
            'chunk.replicate',
            { hash: chunk.hash, size: chunk.size, source, grant: this.options.grants.get([chunk.hash]) },
            { timeoutMs: 60_000 },
          );
          expectFrame(answer, 'chunk.stored');
          await catalog.addReplica(chunk.hash, target);
          this.counters.copiedChunks++;
          this.counters.copiedBytes += chunk.size;
          log.debug({ hash: chunk.hash, from: source.id, to: target }, 'chunk copied');
        } catch (err) {
          const code = toCairnError(err).code;
          log.warn({ hash: chunk.hash, from: source.id, to: target, code }, 'chunk copy failed; will retry');
          // The target got bytes that do not match the hash (nodes serve chunks unverified, their
          // readers verify), or none (E_NOT_FOUND: the file is gone from the source's disk while the
          // catalog lists it): the source's copy is in doubt. Left listed, it would be the source of
          // every retry, and counted healthy, while a sound copy elsewhere went unused.
          // Never let go for the cap: readers' reports must not keep the healer from its own checks.
          if (code === 'E_HASH_MISMATCH' || code === 'E_NOT_FOUND') await this.checkReplica(chunk.hash, source.id, { capped: false });
        }
      }),
    );
  }

  /**
   * Replicas beyond the factor (a node came back after its chunks were repaired elsewhere) are removed
   * so that those kept span as many zones as they can, and otherwise from the most used nodes
   * (`copiesToRemove`), never below the factor of healthy replicas. The list can be seconds old by the
   * time a chunk's turn comes: each removal is checked again against the catalog as it is then.
   */
  private async removeSurplus(): Promise<PlanStep> {
    const { catalog, cluster, pageSize: page = PLAN_PAGE } = this.options;
    const nodes = new Map(cluster.list().map((n) => [n.id, n]));
    const started = performance.now();
    const chunks = await catalog.surplusChunks({ healthyNodes: cluster.reportedHealthyNodeIds(), limit: page });
    const scanMs = performance.now() - started;
    const sliceOver = this.sliceOver(scanMs);
    const deletedBefore = this.counters.deletedChunks;
    let attempted = false;
    let next = 0;
    for (; next < chunks.length && !sliceOver(); next++) {
      const chunk = chunks[next];
      const alive = chunk.healthy.filter((id) => this.isKeeper(id));
      const removable = copiesToRemove(
        alive.map((id) => this.surplusCopy(chunk.hash, id, nodes.get(id))),
        chunk.required,
      );
      if (removable.length < alive.length - chunk.required) this.retryOnceRemovable(chunk.hash, alive);
      for (const node of removable) {
        attempted = true;
        await this.deleteOn(node, [chunk.hash], async () => {
          const keepers = cluster.reportedHealthyNodeIds().filter((id) => this.isKeeper(id));
          return (await catalog.unlistSurplus({ nodeId: node, hash: chunk.hash, keepers })) ? [chunk.hash] : [];
        });
      }
    }
    const left = next < chunks.length || chunks.length === page;
    return { scanMs, unfinished: attempted, moreAtOnce: left && this.counters.deletedChunks > deletedBefore };
  }

  /**
   * How trimming weighs the copy of `hash` on `id`: a copy the node kept as too young is left for its
   * grace period, not asked for every pass.
   */
  private surplusCopy(hash: string, id: string, node: NodeInfo | undefined): SurplusCopy {
    const usedShare = node ? node.used / Math.max(1, node.capacity) : 0;
    return { node: id, zone: node?.zone ?? null, usedShare, removable: !this.keptRecently(hash, id) };
  }

  private keptRecently(hash: string, node: string): boolean {
    return (this.keptAt.get(`${hash}@${node}`) ?? -Infinity) > Date.now() - this.options.gcGraceMs;
  }

  /** Some of `nodes` kept their copy of `hash` as too young: plan again when the first may go. */
  private retryOnceRemovable(hash: string, nodes: readonly string[]): void {
    const kept = nodes.filter((id) => this.keptRecently(hash, id)).map((id) => this.keptAt.get(`${hash}@${id}`) ?? Infinity);
    const waitMs = Math.min(...kept) + this.options.gcGraceMs - Date.now();
    this.schedule.retryAfter(performance.now() + Math.max(0, waitMs));
  }

  /** Only alive replicas count as keepers: a suspect one may be about to die. */
  private isKeeper(id: string): boolean {
    return this.options.cluster.state(id) === 'alive' && this.options.cluster.peer(id) !== undefined;
  }

  /** Whether more garbage may be ready at once: a full page, of which some was deleted. */
  private async collectGarbage(): Promise<boolean> {
    const { catalog, gcGraceMs, pageSize: page = GC_PAGE } = this.options;
    const now = Date.now();
    const deletedBefore = this.counters.deletedChunks;
    const deletable = new Set(this.options.cluster.list().map((n) => n.id).filter((id) => this.deletablePeer(id) !== undefined));
    let ready = await catalog.collectGarbage({ now, graceMs: gcGraceMs, limit: page });
    if (ready.some(({ nodes }) => !nodes.some((id) => deletable.has(id))) && performance.now() >= this.readPastStrandedAt) {
      // Some of the oldest garbage is on nodes no deletion can reach now (a dead node's): pages of it
      // alone would stop GC for good. Ask for garbage that can be deleted now instead. That reads past
      // all the rest, so its cost grows with it (46 ms past 100 000 chunks here): at most
      // 1/STRANDED_SHARE_INVERSE of the time.
      const started = performance.now();
      ready = await catalog.collectGarbage({ now, graceMs: gcGraceMs, limit: page, deletableOn: [...deletable] });
      const ended = performance.now();
      this.readPastStrandedAt = ended + (ended - started) * STRANDED_SHARE_INVERSE;
    }
    const byNode = new Map<string, string[]>();
    for (const { hash, nodes } of ready) {
      for (const node of nodes) {
        const hashes = byNode.get(node);
        if (hashes) hashes.push(hash);
        else byNode.set(node, [hash]);
      }
    }
    // Node by node, each batch re-checked as it goes out: a put may have taken a chunk up meanwhile.
    for (const [node, hashes] of byNode) {
      await this.deleteOn(node, hashes, (free) => catalog.unlistGarbage({ nodeId: node, hashes: free, now, graceMs: gcGraceMs }));
    }
    return ready.length === page && this.counters.deletedChunks > deletedBefore;
  }

  /**
   * Deletes chunks on a live node. `unlist` first removes the replica rows of those still to delete
   * (in one catalog transaction that re-checks them) and returns them; only those are sent. A row goes
   * before its copy, so the catalog never lists a copy that may be gone. A copy the node kept (put or
   * claimed within the grace period), or whose fate an error answer leaves unknown, is listed again
   * only once a `chunk.check` has found it there (UnlistedCopies). With no answer at all the link is
   * closed: the node's report over its next one lists what it still has. A node still reporting since
   * its registration is not asked (see below), nor one whose link changed while unlisting.
   */
  private async deleteOn(nodeId: string, hashes: string[], unlist: (hashes: readonly string[]) => Promise<string[]>): Promise<void> {
    const { log, gcGraceMs } = this.options;
    // Only to a live node whose chunk report on its current registration has finished: a dead node's
    // chunks are dealt with when it comes back and reports, and a reporting node (one that just
    // reconnected, perhaps because its last batch ran too long) gets no new batch until it is done.
    const before = this.deletablePeer(nodeId);
    if (!before) return;
    const batch = this.deleting.begin(nodeId, hashes); // before unlisting: see DeletionsInFlight
    let answered = true;
    try {
      if (batch.hashes.length === 0) return; // all being committed: taken up, nothing to delete
      const unlisted = await unlist(batch.hashes);
      this.deleting.narrow(batch, unlisted); // a hash the catalog refused is not deleted: unmarked now
      if (unlisted.length === 0) return;
      // Read again after unlisting: the link may have dropped meanwhile. The request goes out only
      // over the link the batch began with (a report over a newer one may have listed these copies
      // again); otherwise the batch ends here, and the unlisted copies are listed again once checked.
      const peer = this.deletablePeer(nodeId);
      if (peer !== before) {
        this.unlisted.add(nodeId, unlisted);
        log.debug({ node: nodeId, chunks: unlisted.length }, 'chunk deletion not sent: the node is gone or reporting');
        return;
      }
      let deleted: boolean[];
      try {
        const answer = await peer.request('chunk.delete', { hashes: unlisted, minAgeMs: gcGraceMs }, { timeoutMs: this.options.deleteAnswerMs ?? DELETE_ANSWER_MS });
        deleted = expectFrame(answer, 'chunk.deleted').body.deleted;
      } catch (err) {
        const code = toCairnError(err).code;
        if (code === 'E_TIMEOUT' || !peer.isOpen) {
          answered = false;
          // Forgotten meanwhile (its link closed by the forget): no report of it will end the batch.
          if (this.options.cluster.isKnown(nodeId)) this.deleting.endAtReport(batch, peer);
          else batch.end();
          peer.close(CLOSE_CODES.closedByController, 'no answer to a deletion');
          log.warn({ node: nodeId, chunks: unlisted.length, code }, 'chunk deletion unanswered; link closed, the node reports again');
        } else {
          this.unlisted.add(nodeId, unlisted);
          log.warn({ node: nodeId, chunks: unlisted.length, code }, 'chunk deletion failed; copies still there are listed again');
        }
        return;
      }
      const kept = unlisted.filter((_, i) => deleted[i] !== true);
      this.counters.deletedChunks += unlisted.length - kept.length;
      if (kept.length === 0) return;
      this.unlisted.add(nodeId, kept);
      if (this.keptAt.size >= 10_000) this.keptAt.clear();
      for (const hash of kept) this.keptAt.set(`${hash}@${nodeId}`, Date.now());
    } finally {
      if (answered) batch.end();
    }
  }

  /** The node's open link, if it is live and has finished its chunk report since it registered. */
  private deletablePeer(nodeId: string): RpcPeer | undefined {
    return this.options.cluster.hasReported(nodeId) ? this.options.cluster.peer(nodeId) : undefined;
  }
}
