import { spawnSync } from 'node:child_process';
import * as v8 from 'node:v8';
import { tuneGarbageCollectorForChunks } from './gc-tuning';

jest.mock('node:v8', () => ({ setFlagsFromString: jest.fn() }));

describe('tuneGarbageCollectorForChunks', () => {
  it('sets the heap growing percent of the process it runs in', () => {
    tuneGarbageCollectorForChunks();
    expect(v8.setFlagsFromString).toHaveBeenCalledWith('--heap-growing-percent=1000');
  });

  it('names a flag this Node knows (an unknown V8 flag on the command line is refused)', () => {
    const ok = spawnSync(process.execPath, ['--heap-growing-percent=1000', '-e', '0'], { encoding: 'utf8' });
    expect(ok.status).toBe(0);
    const unknown = spawnSync(process.execPath, ['--heap-growing-percentage-typo=1000', '-e', '0'], { encoding: 'utf8' });
    expect(unknown.status).not.toBe(0);
  });
});
