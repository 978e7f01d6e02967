import { CairnError } from '@cairn/protocol';
import { isMissing, toDiskError } from './disk-errors';

function errno(code: string): Error {
  return Object.assign(new Error(`${code}: simulated`), { code });
}

describe('disk errors', () => {
  it.each(['ENOSPC', 'EDQUOT'])('maps %s to E_CAPACITY', (code) => {
    expect(toDiskError(errno(code), 'writing', {})).toMatchObject({ code: 'E_CAPACITY' });
  });

  it.each(['EIO', 'EACCES', 'EROFS', 'EISDIR', 'ENOENT'])('maps %s to E_DISK', (code) => {
    expect(toDiskError(errno(code), 'writing', {})).toMatchObject({ code: 'E_DISK', details: { errno: code } });
  });

  it('keeps a CairnError as it is', () => {
    const aborted = new CairnError('E_ABORTED', 'stop');
    expect(toDiskError(aborted, 'writing', {})).toBe(aborted);
  });

  it('treats only ENOENT as missing, never EIO', () => {
    expect(isMissing(errno('ENOENT'))).toBe(true);
    expect(isMissing(errno('EIO'))).toBe(false);
    expect(isMissing(new Error('no code'))).toBe(false);
  });
});
