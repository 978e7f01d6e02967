import { EventEmitter } from 'node:events';
import { failIfUnfinished, type ExitingProcess } from './unfinished-command';

function fakeProcess(): ExitingProcess & EventEmitter & { written: string[] } {
  const written: string[] = [];
  return Object.assign(new EventEmitter(), { exitCode: undefined, stderr: { write: (text: string) => written.push(text) }, written });
}

describe('failIfUnfinished', () => {
  it('turns an event loop that ran empty mid-command into a failure with one line on stderr', () => {
    const proc = fakeProcess();
    failIfUnfinished(proc, 1);
    proc.emit('beforeExit');
    expect(proc.exitCode).toBe(1);
    expect(proc.written).toEqual([expect.stringMatching(/^cairn: the command stopped before it finished.*\(E_INTERNAL\)\n$/)]);
  });

  it('changes nothing once the command has finished', () => {
    const proc = fakeProcess();
    const command = failIfUnfinished(proc, 1);
    command.finish();
    proc.exitCode = 0;
    proc.emit('beforeExit');
    expect(proc.exitCode).toBe(0);
    expect(proc.written).toEqual([]);
  });
});
