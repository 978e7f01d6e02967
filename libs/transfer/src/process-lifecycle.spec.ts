import { CairnError } from '@cairn/protocol';
import { runMain, stopOnSignals } from './process-lifecycle';

describe('process lifecycle', () => {
  let exit: jest.SpyInstance;
  let stderr: jest.SpyInstance;
  beforeEach(() => {
    exit = jest.spyOn(process, 'exit').mockImplementation((() => undefined) as never);
    stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
  });
  afterEach(() => jest.restoreAllMocks());
  const settle = () => new Promise((r) => setImmediate(r));

  it('reports a failed main on one line and exits 2 for a usage error, 1 otherwise (with a stack for bugs)', async () => {
    runMain('cairn-x', async () => {
      throw new CairnError('E_USAGE', '--port must be 0-65535');
    });
    await settle();
    expect(stderr).toHaveBeenCalledWith('cairn-x: --port must be 0-65535\n');
    expect(exit).toHaveBeenLastCalledWith(2);

    runMain('cairn-x', async () => {
      throw new TypeError('boom');
    });
    await settle();
    expect(String(stderr.mock.calls.at(-1)?.[0])).toMatch(/^cairn-x: TypeError: boom\n\s+at /);
    expect(exit).toHaveBeenLastCalledWith(1);
  });

  it('stops once, however many signals come, then exits 0', async () => {
    const on = jest.spyOn(process, 'on').mockImplementation(() => process);
    const stop = jest.fn(async () => undefined);
    const once = stopOnSignals(stop);
    expect(on.mock.calls.map((c) => c[0])).toEqual(['SIGINT', 'SIGTERM']);
    await Promise.all([once('SIGTERM'), once('SIGINT')]);
    expect(stop).toHaveBeenCalledTimes(1);
    expect(stop).toHaveBeenCalledWith('SIGTERM');
    expect(exit).toHaveBeenCalledTimes(1);
    expect(exit).toHaveBeenCalledWith(0);
  });
});
