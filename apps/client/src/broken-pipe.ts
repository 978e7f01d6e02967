import { EXIT } from './exit-codes';

/** The little of a process this needs, so a test can hand in its own. */
export interface OutputProcess {
  stdout: { on(event: 'error', listener: (err: NodeJS.ErrnoException) => void): unknown };
  stderr: { write(text: string): unknown };
  exit(code: number): void;
}

/**
 * `cairn cat big | head -c1`: the reader closes the pipe, and stdout's next write fails with EPIPE,
 * an 'error' event that, unheard, ends the process with a stack trace. As cat(1) stops at SIGPIPE,
 * the command ends there, quietly, with status 0: stopping early is what the reader asked for, and
 * a script with `set -o pipefail` need not single it out. Any other failure to write stdout (a full
 * disk behind a redirection) is one line and the failure status.
 */
export function endOnBrokenPipe(proc: OutputProcess): void {
  proc.stdout.on('error', (err) => {
    if (err.code === 'EPIPE') return proc.exit(EXIT.ok);
    proc.stderr.write(`cairn: cannot write to stdout: ${err.code ?? err.message}\n`);
    proc.exit(EXIT.failure);
  });
}
