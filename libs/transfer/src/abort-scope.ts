import { setMaxListeners } from 'node:events';
import { CairnError } from '@cairn/protocol';

/** A signal of our own that follows the caller's, and how to stop following it. */
export interface AbortScope {
  signal: AbortSignal | undefined;
  close(): void;
}

/**
 * One listener on the caller's signal for a whole transfer, however many requests wait on it. Each
 * request listens to the signal it is given until it is answered, and a put has more than ten in
 * flight at once (placements, each replica's chunk, records): on the caller's own signal Node then
 * printed a MaxListenersExceededWarning into the caller's process. The scope's signal aborts when
 * the caller's does, with its reason; without a caller's signal there is none.
 */
export function abortScope(outer: AbortSignal | undefined): AbortScope {
  if (!outer) return { signal: undefined, close: () => undefined };
  const inner = new AbortController();
  setMaxListeners(Infinity, inner.signal); // each request removes its listener once answered
  const follow = () => inner.abort(outer.reason);
  if (outer.aborted) follow();
  else outer.addEventListener('abort', follow, { once: true });
  return { signal: inner.signal, close: () => outer.removeEventListener('abort', follow) };
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
