import { EventEmitter } from 'node:events';
import { removeTempFilesOnSignals, type SignalledProcess } from './interrupt';

/** A process whose signals are events, and whose kill is recorded. */
function fakeProcess(): SignalledProcess & EventEmitter & { killed: Array<[number, string]> } {
  const emitter = new EventEmitter() as EventEmitter & { killed: Array<[number, string]>; pid: number; kill: SignalledProcess['kill'] };
  emitter.killed = [];
  emitter.pid = 4242;
  emitter.kill = (pid, signal) => emitter.killed.push([pid, signal]);
  return emitter;
}

describe('removeTempFilesOnSignals', () => {
  it.each(['SIGINT', 'SIGTERM', 'SIGHUP'] as const)('on %s removes the temp files, then ends the process by that same signal with no listener left', (signal) => {
    const proc = fakeProcess();
    const cleanUps: string[] = [];
    removeTempFilesOnSignals(proc, () => cleanUps.push('removed'));

    proc.emit(signal);

    expect(cleanUps).toEqual(['removed']);
    expect(proc.killed).toEqual([[4242, signal]]);
    for (const any of ['SIGINT', 'SIGTERM', 'SIGHUP']) expect(proc.listenerCount(any)).toBe(0);
  });

  it('does nothing until a signal comes', () => {
    const proc = fakeProcess();
    let cleaned = false;
    removeTempFilesOnSignals(proc, () => (cleaned = true));
    expect(cleaned).toBe(false);
    expect(proc.killed).toEqual([]);
    expect(proc.listenerCount('SIGINT')).toBe(1);
  });
});
