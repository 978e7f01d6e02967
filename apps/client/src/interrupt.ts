import { constants } from 'node:os';
import { removeUnfinishedWrites } from '@cairn/transfer';

/** The signals that stop a command from a terminal, a supervisor or `timeout(1)`. */
const STOPPING_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** The little of `process` this needs, so a test can hand in its own. */
export interface SignalledProcess {
  once(signal: NodeJS.Signals, listener: () => void): unknown;
  removeAllListeners(signal: NodeJS.Signals): unknown;
  kill(pid: number, signal: NodeJS.Signals): unknown;
  exit(code: number): never;
  pid: number;
}

/**
 * On Ctrl-C (or SIGTERM, SIGHUP) a command removes the temp files of the downloads it was writing,
 * which would otherwise stay as hidden partial `.<name>.cairn-….tmp` files, possibly gigabytes, one
 * more for each try. Then the process ends by the same signal, as `cp` does, so that a shell or a
 * supervisor sees it stopped by the signal (status 128 + its number), not a success or a failure of
 * its own. An interrupted put needs nothing here: it keeps its upload log to resume from.
 */
export function removeTempFilesOnSignals(proc: SignalledProcess = process, cleanUp: () => void = removeUnfinishedWrites): void {
  for (const signal of STOPPING_SIGNALS) {
    proc.once(signal, () => {
      cleanUp();
      for (const other of STOPPING_SIGNALS) proc.removeAllListeners(other);
      proc.kill(proc.pid, signal); // no listener now: the default action ends the process
      // Still here: a PID 1 (in a container) is not ended by a signal's default action.
      proc.exit(128 + constants.signals[signal]);
    });
  }
}
