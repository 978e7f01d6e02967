import { EventEmitter } from 'node:events';
import { removeTempFilesOnSignals, type SignalledProcess } from './interrupt';

/** A process whose signals are events, and whose kill is recorded. */
function fakeProcess(): SignalledProcess & EventEmitter & { killed: Array<[number, string]>; exited: number[] } {
  const emitter = new EventEmitter() as EventEmitter & { killed: Array<[number, string]>; exited: number[]; pid: number; kill: SignalledProcess['kill']; exit: SignalledProcess['exit'] };
  emitter.killed = [];
  emitter.exited = [];
  emitter.pid = 4242;
  emitter.kill = (pid, signal) => emitter.killed.push([pid, signal]);
  emitter.exit = ((code: number) => void emitter.exited.push(code)) as SignalledProcess['exit'];
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
    // A process the signal did not end (PID 1 in a container) exits with 128 + its number, as a shell reports it.
    expect(proc.exited).toEqual([{ SIGINT: 130, SIGTERM: 143, SIGHUP: 129 }[signal]]);
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
