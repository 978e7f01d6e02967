/**
 * Runs `round` every `intervalMs`: the first one interval after this call, each next one an interval
 * after the last ended, so that two never overlap however long one takes. Returns a stop: it aborts
 * the signal the round under way was given and times no further one. `round` must not reject, and
 * should end soon once its signal aborts.
 */
export function scheduleRounds(intervalMs: number, round: (signal: AbortSignal) => Promise<unknown>): () => void {
  const abort = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const run = async () => {
    timer = undefined;
    await round(abort.signal);
    if (!abort.signal.aborted) timer = setTimeout(() => void run(), intervalMs);
  };
  timer = setTimeout(() => void run(), intervalMs);
  return () => {
    abort.abort();
    if (timer) clearTimeout(timer);
  };
}
