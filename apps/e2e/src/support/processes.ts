import { ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

/** Built entry points (Nx's default output path, DESIGN.md's stable surface). */
export const WORKSPACE = join(__dirname, '..', '..', '..', '..');
export const MAIN = {
  controller: join(WORKSPACE, 'apps/controller/dist/main.js'),
  node: join(WORKSPACE, 'apps/node/dist/main.js'),
  client: join(WORKSPACE, 'apps/client/dist/main.js'),
};

const running = new Set<ChildProcess>();
// Whatever happens to a test, no process it started outlives the test run.
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export interface Spawned {
  child: ChildProcess;
  /** Every stdout/stderr line so far (for diagnostics and for waiting on log lines). */
  lines: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts a long-running process and keeps its log lines. */
export function spawnProcess(main: string, args: string[], env: NodeJS.ProcessEnv = {}): Spawned {
  const child = spawn(process.execPath, [main, ...args], {
    env: { ...cleanEnv(), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  const lines: string[] = [];
  const listeners: Array<(line: string) => void> = [];
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue;
    createInterface({ input: stream }).on('line', (line) => {
      lines.push(line);
      for (const l of listeners) l(line);
    });
  }
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    }),
  );
  return Object.assign({ child, lines, exited }, { onLine: (l: (line: string) => void) => listeners.push(l) });
}

/** Waits for a JSON log line matching `test` and returns it parsed. */
export function waitForLog(proc: Spawned, test: (entry: Record<string, unknown>) => boolean, timeoutMs = 15_000): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const check = (line: string) => {
      try {
        const entry = JSON.parse(line) as Record<string, unknown>;
        if (test(entry)) {
          clearTimeout(timer);
          resolve(entry);
          return true;
        }
      } catch {
        // not a JSON line
      }
      return false;
    };
    const timer = setTimeout(() => reject(new Error(`timed out waiting for a log line; got:\n${proc.lines.join('\n')}`)), timeoutMs);
    if (proc.lines.some(check)) return;
    (proc as Spawned & { onLine: (l: (line: string) => void) => void }).onLine(check);
    void proc.exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`process exited (${code ?? signal}) before the expected log line:\n${proc.lines.join('\n')}`));
    });
  });
}

export async function killHard(proc: Spawned): Promise<void> {
  if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  proc.child.kill('SIGKILL');
  await proc.exited;
}

export interface CliResult {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/**
 * Runs the client CLI to completion. `readBytes`: stop reading its stdout once that many bytes came
 * (closing the pipe, as `| head -c N` does).
 */
export function runCli(args: string[], options: { cwd: string; input?: Buffer; env?: NodeJS.ProcessEnv; readBytes?: number }): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN.client, ...args], {
      cwd: options.cwd,
      env: { ...cleanEnv(), ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    running.add(child);
    const out: Buffer[] = [];
    let err = '';
    let read = 0;
    child.stdout.on('data', (d: Buffer) => {
      out.push(d);
      read += d.length;
      if (options.readBytes !== undefined && read >= options.readBytes) child.stdout.destroy();
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    // 'close', not 'exit': only then has everything the CLI wrote to stdout and stderr been read.
    child.on('close', (code) => {
      running.delete(child);
      resolve({ code, stdout: Buffer.concat(out), stderr: err });
    });
    child.stdin.end(options.input ?? Buffer.alloc(0));
  });
}

/** The test runner's own CAIRN_* settings must not leak into the processes under test. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CAIRN_')));
}
