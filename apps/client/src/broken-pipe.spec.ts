import { EventEmitter } from 'node:events';
import { endOnBrokenPipe } from './broken-pipe';
import { EXIT } from './exit-codes';

function fakeProcess() {
  const stdout = new EventEmitter();
  const proc = { stdout, stderr: { text: '', write: (t: string) => (proc.stderr.text += t) }, exits: [] as number[], exit: (code: number) => void proc.exits.push(code) };
  endOnBrokenPipe(proc);
  const fail = (code: string) => stdout.emit('error', Object.assign(new Error(`write ${code}`), { code }));
  return { proc, fail };
}

describe('endOnBrokenPipe', () => {
  it('ends the command quietly with status 0 when the reader closes the pipe (EPIPE)', () => {
    const { proc, fail } = fakeProcess();
    fail('EPIPE');
    expect(proc.exits).toEqual([EXIT.ok]);
    expect(proc.stderr.text).toBe('');
  });

  it('reports any other failure to write stdout in one line, with the failure status', () => {
    const { proc, fail } = fakeProcess();
    fail('ENOSPC');
    expect(proc.exits).toEqual([EXIT.failure]);
    expect(proc.stderr.text).toBe('cairn: cannot write to stdout: ENOSPC\n');
  });
});
