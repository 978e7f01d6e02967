import { CairnError } from '@cairn/protocol';
import { abortable } from './abort-scope';

/**
 * A put's source, each read raced against the put's signal: aborting a put whose source has stalled
 * rejects it with E_ABORTED at once, not when (if ever) the source yields again.
 */
export class AbortableReads<T> implements AsyncIterator<T> {
  /** A read not settled yet: an async generator settles it before anything else asked of it, `return` too. */
  private pending: Promise<IteratorResult<T>> | undefined;

  constructor(
    private readonly source: AsyncIterator<T>,
    private readonly signal: AbortSignal | undefined,
  ) {}

  next(): Promise<IteratorResult<T>> {
    if (this.signal?.aborted) return Promise.reject(new CairnError('E_ABORTED', 'aborted'));
    const read = this.source.next();
    this.pending = read;
    const settled = () => {
      if (this.pending === read) this.pending = undefined;
    };
    read.then(settled, settled); // also keeps a read given up on from rejecting unhandled
    return this.signal ? abortable(read, this.signal) : read;
  }

  /**
   * Ends the source (a file's descriptor is closed). With a read still pending, without waiting: a
   * source that never yields again must not hold the put. It ends once that read settles, which for a
   * stream is once the put destroys it (CairnClient.put).
   */
  async close(): Promise<void> {
    const ending = this.source.return?.(undefined);
    if (this.pending) ending?.catch(() => undefined);
    else await ending;
  }
}
