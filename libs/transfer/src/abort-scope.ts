import { setMaxListeners } from 'node:events';
import { CairnError } from '@cairn/protocol';

/** A signal of our own that follows the caller's (and any other given), and how to stop following them. */
export interface AbortScope {
  signal: AbortSignal | undefined;
  close(): void;
}

/**
 * One listener on the caller's signal for a whole transfer, however many requests wait on it. Each
 * request listens to the signal it is given until it is answered, and a put has more than ten in
 * flight at once (placements, each replica's chunk, records): on the caller's own signal Node then
 * printed a MaxListenersExceededWarning into the caller's process. The scope's signal aborts when
 * the first of `outers` does, with its reason (the SDK adds its own, which a revoked token aborts);
 * without any signal there is none.
 */
export function abortScope(...outers: Array<AbortSignal | undefined>): AbortScope {
  const followed = outers.filter((outer): outer is AbortSignal => outer !== undefined);
  if (followed.length === 0) return { signal: undefined, close: () => undefined };
  const inner = new AbortController();
  setMaxListeners(Infinity, inner.signal); // each request removes its listener once answered
  const follows = followed.map((outer) => {
    const follow = () => inner.abort(outer.reason);
    if (outer.aborted) follow();
    else outer.addEventListener('abort', follow, { once: true });
    return () => outer.removeEventListener('abort', follow);
  });
  return { signal: inner.signal, close: () => follows.forEach((stop) => stop()) };
}

/** `promise`, or E_ABORTED as soon as `signal` aborts (the promise itself carries on, for others or to be let go). */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new CairnError('E_ABORTED', 'aborted'));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new CairnError('E_ABORTED', 'aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}
