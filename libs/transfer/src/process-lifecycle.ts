import { isCairnError } from '@cairn/protocol';

/**
 * Runs a server process's `main`. A failure is one line on stderr, `<name>: <message>` (a stack only
 * for what is not a CairnError, i.e. a bug), and the exit code is 2 for a usage error, else 1.
 */
export function runMain(name: string, main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    process.stderr.write(`${name}: ${isCairnError(err) ? err.message : ((err as Error)?.stack ?? String(err))}\n`);
    process.exit(isCairnError(err, 'E_USAGE') ? 2 : 1);
  });
}

/**
 * Calls `stop` once, on the first SIGINT or SIGTERM (a second signal while stopping does nothing),
 * then exits 0. Returns the same once-only stop, for other reasons to shut down.
 */
export function stopOnSignals(stop: (signal: string) => Promise<void>): (signal: string) => Promise<void> {
  let stopping = false;
  const once = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    await stop(signal);
    process.exit(0);
  };
  process.on('SIGINT', () => void once('SIGINT'));
  process.on('SIGTERM', () => void once('SIGTERM'));
  return once;
}
