import { spawnSync } from 'node:child_process';

/** The young generation's size in a fresh process that keeps objects alive while it churns. */
function newSpaceAfterChurn(setFlagAtRunTime: boolean): number {
  const script = `
    const v8 = require('node:v8');
    if (${setFlagAtRunTime}) v8.setFlagsFromString('--semi-space-growth-factor=1');
    const kept = [];
    for (let i = 0; i < 300000; i++) { kept.push({ i, pad: new Array(8).fill(i) }); if (kept.length > 30000) kept.splice(0, 15000); }
    process.stdout.write(String(v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size));
  `;
  const run = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
  expect(run.status).toBe(0);
  return Number(run.stdout);
}

const MiB = 1024 * 1024;

describe('young-generation', () => {
  it('sets the growth factor of the young generation to 1 when imported', () => {
    jest.isolateModules(() => {
      const setFlagsFromString = jest.fn();
      jest.doMock('node:v8', () => ({ setFlagsFromString }));
      require('./young-generation');
      expect(setFlagsFromString).toHaveBeenCalledWith('--semi-space-growth-factor=1');
    });
  });

  // The module relies on V8 reading the flag at each growth, not only at start-up: a Node upgrade that
  // changed that would quietly bring back RSS that grows with the length of a transfer.
  it('keeps the young generation at two 1 MiB semi-spaces when set at run time, where it would grow to 16', () => {
    expect(newSpaceAfterChurn(true)).toBeLessThanOrEqual(2 * MiB);
    expect(newSpaceAfterChurn(false)).toBeGreaterThanOrEqual(8 * MiB);
  });
});
