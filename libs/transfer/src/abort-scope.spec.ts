import { getEventListeners, getMaxListeners } from 'node:events';
import { abortScope } from './abort-scope';

describe('abortScope', () => {
  it('has no signal without the caller’s', () => {
    const scope = abortScope(undefined);
    expect(scope.signal).toBeUndefined();
    expect(() => scope.close()).not.toThrow();
  });

  it('aborts when the caller’s signal does, with its reason', () => {
    const outer = new AbortController();
    const scope = abortScope(outer.signal);
    expect(scope.signal?.aborted).toBe(false);
    outer.abort(new Error('stop'));
    expect(scope.signal?.aborted).toBe(true);
    expect((scope.signal?.reason as Error).message).toBe('stop');
  });

  it('starts aborted when the caller’s signal already is', () => {
    expect(abortScope(AbortSignal.abort()).signal?.aborted).toBe(true);
  });

  it('stops following once closed', () => {
    const outer = new AbortController();
    const scope = abortScope(outer.signal);
    scope.close();
    outer.abort();
    expect(scope.signal?.aborted).toBe(false);
  });

  it('takes any number of listeners (no MaxListenersExceededWarning) and puts one on the caller’s signal', () => {
    const outer = new AbortController();
    expect(getMaxListeners(outer.signal)).toBe(10); // Node warns past this many on a signal of the caller's
    const scope = abortScope(outer.signal);
    const listeners = Array.from({ length: 50 }, () => jest.fn());
    for (const listener of listeners) scope.signal?.addEventListener('abort', listener, { once: true });
    expect(getMaxListeners(scope.signal as AbortSignal)).toBe(Infinity);
    expect(getEventListeners(outer.signal, 'abort')).toHaveLength(1);
    outer.abort();
    for (const listener of listeners) expect(listener).toHaveBeenCalledTimes(1);
    scope.close();
    expect(getEventListeners(outer.signal, 'abort')).toHaveLength(0);
  });
  it('follows every signal given, aborting with the reason of the first to abort, and stops following all once closed', () => {
    const caller = new AbortController();
    const revocation = new AbortController();
    const scope = abortScope(caller.signal, undefined, revocation.signal);
    revocation.abort(new Error('revoked'));
    caller.abort(new Error('stop'));
    expect((scope.signal?.reason as Error).message).toBe('revoked');

    const later = new AbortController();
    const closed = abortScope(undefined, later.signal);
    closed.close();
    expect(getEventListeners(later.signal, 'abort')).toHaveLength(0);
    later.abort();
    expect(closed.signal?.aborted).toBe(false);
  });
});
