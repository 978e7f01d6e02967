import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAIN } from './support/processes';

const MiB = 1024 * 1024;

describe('the CLI process', () => {
  let dir: string;
  let reporter: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'cairn-cli-memory-'));
    reporter = join(dir, 'report-new-space.cjs');
    // Loaded with --require: prints the young generation's size as the process exits.
    writeFileSync(
      reporter,
      `process.on('exit', () => process.stderr.write('new_space=' + require('node:v8').getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size + '\\n'));`,
    );
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  // Loading the CLI's bundle used to grow V8's young generation to 8 MiB before any command ran, and
  // a long transfer then touched more and more of it (apps/client/src/young-generation.ts).
  it('keeps its young generation at two 1 MiB semi-spaces while it loads', () => {
    const run = spawnSync(process.execPath, ['--require', reporter, MAIN.client, '--help'], { encoding: 'utf8' });
    expect(run.status).toBe(0);
    const size = /new_space=(\d+)/.exec(run.stderr);
    if (!size) throw new Error(`no new_space line:\n${run.stderr}`);
    expect(Number(size[1])).toBeLessThanOrEqual(2 * MiB);
  });
});
