/** The little of `process` this needs, so a test can hand in its own. */
export interface ExitingProcess {
  once(event: 'beforeExit', listener: () => void): unknown;
  exitCode?: number | string | null;
  stderr: { write(text: string): unknown };
}

/**
 * Node exits with status 0 when its event loop runs empty, even if a command is still waiting on a
 * promise that nothing will settle any more: a put that stored nothing would then look like a success,
 * with no output at all (seen once: a connection closed during its handshake left a chunk's send
 * waiting for ever). Until `finish` is called, an empty loop is reported as an internal error instead,
 * with the failure exit status.
 */
export function failIfUnfinished(proc: ExitingProcess, failureStatus: number): { finish(): void } {
  let finished = false;
  proc.once('beforeExit', () => {
    if (finished) return;
    proc.stderr.write('cairn: the command stopped before it finished, with nothing left to wait for: an internal error (E_INTERNAL)\n');
    proc.exitCode = failureStatus;
  });
  return {
    finish: () => {
      finished = true;
    },
  };
}
