import { ERROR_CODES } from '@cairn/protocol';
import { EXIT, exitCodeFor } from './exit-codes';

describe('exitCodeFor', () => {
  it.each([
    ['E_USAGE', EXIT.usage],
    ['E_NAME_INVALID', EXIT.usage],
    ['E_NOT_FOUND', EXIT.notFound],
    ['E_AUTH', EXIT.auth],
    ['E_FORBIDDEN', EXIT.auth],
    ['E_UNAVAILABLE', EXIT.unavailable],
    ['E_NO_NODES', EXIT.unavailable],
    ['E_TIMEOUT', EXIT.unavailable],
    ['E_CORRUPT', EXIT.integrity],
    ['E_HASH_MISMATCH', EXIT.integrity],
    ['E_INTERNAL', EXIT.failure],
  ] as const)('maps %s to exit code %i', (code, exit) => {
    expect(exitCodeFor(code)).toBe(exit);
  });

  it('gives every error code a non-zero exit code', () => {
    for (const code of ERROR_CODES) expect(exitCodeFor(code)).toBeGreaterThan(0);
  });

  it('keeps the documented numbers', () => {
    expect(EXIT).toEqual({ ok: 0, failure: 1, usage: 2, notFound: 3, auth: 4, unavailable: 5, integrity: 6 });
  });
});
