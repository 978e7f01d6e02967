import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { transformSync } from '@swc/core';

/** This module as the CommonJS a child process can run. */
const MODULE_JS = transformSync(readFileSync(join(__dirname, 'young-generation.ts'), 'utf8'), {
  jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
  module: { type: 'commonjs' },
}).code;

/**
 * The young generation's size in a fresh process that keeps objects alive while it churns: after
 * setting the flag at run time (`setup` 'flag'), or after `keepYoungGenerationSmall` and a worker
 * thread started (`setup` 'module+worker'), or neither.
 */
function newSpaceAfterChurn(setup: 'flag' | 'module+worker' | 'none'): number {
  const script = `
    const v8 = require('node:v8');
    const kept = [];
    let i = 0;
    // In slices, one per turn of the event loop, from before a worker starts until after it is up.
    const churn = () => {
      for (const end = i + 2000; i < end; i++) { kept.push({ i, pad: new Array(8).fill(i) }); if (kept.length > 30000) kept.splice(0, 15000); }
      if (i < 300000) return setImmediate(churn);
      process.stdout.write(String(v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size));
      process.exit(0);
    };
    if (${JSON.stringify(setup)} === 'flag') v8.setFlagsFromString('--semi-space-growth-factor=1');
    if (${JSON.stringify(setup)} === 'module+worker') {
      const exports = {};
      new Function('exports', 'require', ${JSON.stringify(MODULE_JS)})(exports, require);
      exports.keepYoungGenerationSmall();
      const { Worker } = require('node:worker_threads');
      new Worker('setTimeout(() => {}, 1000)', { eval: true }).unref();
    }
    churn();
  `;
  const run = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
  expect(run.status).toBe(0);
  return Number(run.stdout);
}

const MiB = 1024 * 1024;

describe('young-generation', () => {
  it('sets the growth factor of the young generation to 1, and listens for workers once however often it is called', () => {
    jest.isolateModules(() => {
      const setFlagsFromString = jest.fn();
      jest.doMock('node:v8', () => ({ setFlagsFromString }));
      const before = process.listenerCount('worker');
      try {
        const { keepYoungGenerationSmall } = require('./young-generation');
        keepYoungGenerationSmall();
        keepYoungGenerationSmall();
        expect(setFlagsFromString).toHaveBeenCalledTimes(2);
        expect(setFlagsFromString).toHaveBeenCalledWith('--semi-space-growth-factor=1');
        expect(process.listenerCount('worker')).toBe(before + 1);
      } finally {
        for (const listener of process.listeners('worker').slice(before)) process.off('worker', listener);
      }
    });
  });

  // The module relies on V8 reading the flag at each growth, not only at start-up: a Node upgrade that
  // changed that would quietly bring back RSS that grows with the length of a transfer.
  it('keeps the young generation at two 1 MiB semi-spaces when set at run time, where it would grow to 16', () => {
    expect(newSpaceAfterChurn('flag')).toBeLessThanOrEqual(2 * MiB);
    expect(newSpaceAfterChurn('none')).toBeGreaterThanOrEqual(8 * MiB);
  });

  // Starting a worker makes V8 raise the flag back to its minimum of 2 for the whole process.
  it('keeps it small after a worker thread has started, as a big transfer starts its hashing thread', () => {
    expect(newSpaceAfterChurn('module+worker')).toBeLessThanOrEqual(2 * MiB);
  });
});
