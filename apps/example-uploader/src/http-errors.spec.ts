import { CairnError, ERROR_CODES } from '@cairn/protocol';
import { httpStatusFor, toHttpError } from './http-errors';

describe('httpStatusFor', () => {
  it.each([
    ['E_NAME_INVALID', 400],
    ['E_USAGE', 400],
    ['E_AUTH', 401],
    ['E_FORBIDDEN', 403],
    ['E_NOT_FOUND', 404],
    ['E_NO_NODES', 503],
    ['E_UNAVAILABLE', 503],
    ['E_TIMEOUT', 504],
    ['E_CAPACITY', 507],
    ['E_CORRUPT', 500],
    ['E_INTERNAL', 500],
    ['E_BAD_MESSAGE', 500],
  ] as const)('maps %s to %i', (code, status) => {
    expect(httpStatusFor(code)).toBe(status);
  });

  it('gives every error code an error status', () => {
    for (const code of ERROR_CODES) {
      expect(httpStatusFor(code)).toBeGreaterThanOrEqual(400);
      expect(httpStatusFor(code)).toBeLessThan(600);
    }
  });
});

describe('toHttpError', () => {
  it('keeps the code and message of a CairnError', () => {
    expect(toHttpError(new CairnError('E_NOT_FOUND', 'no file named a.txt'))).toEqual({
      status: 404,
      body: { code: 'E_NOT_FOUND', message: 'no file named a.txt' },
    });
  });

  it('hides anything else behind E_INTERNAL, without its message or stack', () => {
    const answer = toHttpError(new Error('ECONNREFUSED /var/secret/path'));
    expect(answer).toEqual({ status: 500, body: { code: 'E_INTERNAL', message: 'internal error' } });
    expect(JSON.stringify(answer)).not.toContain('secret');
    expect(toHttpError('a string')).toEqual(answer);
    expect(toHttpError(undefined)).toEqual(answer);
  });
});
