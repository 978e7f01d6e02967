import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAIN, spawnProcess, waitForLog } from './support/processes';

const MiB = 1024 * 1024;

/** The young generation's size from a `new_space=<bytes>` line, which the reporter prints at exit. */
function newSpaceOf(output: string): number {
  const size = /new_space=(\d+)/.exec(output);
  if (!size) throw new Error(`no new_space line:\n${output}`);
  return Number(size[1]);
}

// Loading a bundle grew V8's young generation to 8 or 16 MiB before any work was done, and the work
// grew it further the longer it ran, so a process's peak RSS followed its history and the size of
// what it transferred (invariant 5; libs/transfer/src/young-generation.ts). These check that each
// bundle keeps it small from its first line: the setting must come before the rest is loaded.
describe('the young generation of a process', () => {
  let dir: string;
  let reporter: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'cairn-young-generation-'));
    reporter = join(dir, 'report-new-space.cjs');
    // Loaded with --require: prints the young generation's size as the process exits.
    writeFileSync(
      reporter,
      `process.on('exit', () => process.stderr.write('new_space=' + require('node:v8').getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size + '\\n'));`,
    );
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('stays at two 1 MiB semi-spaces while the CLI loads', () => {
    const run = spawnSync(process.execPath, ['--require', reporter, MAIN.client, '--help'], { encoding: 'utf8' });
    expect(run.status).toBe(0);
    expect(newSpaceOf(run.stderr)).toBeLessThanOrEqual(2 * MiB);
  });

  it('stays at two 1 MiB semi-spaces while the controller loads, opens its catalog and starts serving', async () => {
    const controller = spawnProcess(MAIN.controller, ['--host', '127.0.0.1', '--port', '0', '--data', join(dir, 'controller')], {
      NODE_OPTIONS: `--require ${reporter}`,
    });
    try {
      await waitForLog(controller, (e) => typeof e['msg'] === 'string' && e['msg'].startsWith('controller listening'));
    } finally {
      controller.child.kill('SIGTERM');
    }
    // Exit code 0, not the signal: the SIGTERM came after 'listening', so the controller's handler had it.
    expect(await controller.exited).toEqual({ code: 0, signal: null });
    // 'exit' may come before the last lines are read from the pipes; 'close' comes after them.
    if (controller.child.stdout?.readableEnded === false || controller.child.stderr?.readableEnded === false) await once(controller.child, 'close');
    expect(newSpaceOf(controller.lines.join('\n'))).toBeLessThanOrEqual(2 * MiB);
  });
});
