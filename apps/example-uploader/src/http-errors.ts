import { CairnError, ErrorCode, isCairnError } from '@cairn/protocol';

/** What a client of this HTTP service gets for a failure: a status and `{code, message}`, never a stack. */
export interface HttpError {
  status: number;
  body: { code: ErrorCode; message: string };
}

/**
 * The HTTP status for a Cairn error code. The SDK reports every failure as a CairnError with a stable
 * code, so an app branches on the code (never on the message).
 */
export function httpStatusFor(code: ErrorCode): number {
  switch (code) {
    case 'E_NAME_INVALID':
    case 'E_USAGE':
      return 400;
    case 'E_AUTH':
      return 401;
    case 'E_FORBIDDEN':
      return 403;
    case 'E_NOT_FOUND':
      return 404;
    case 'E_NO_NODES':
    case 'E_UNAVAILABLE':
      return 503;
    case 'E_TIMEOUT':
      return 504;
    case 'E_CAPACITY':
      return 507;
    default:
      return 500;
  }
}

/**
 * Anything thrown, as an HTTP error. A CairnError keeps its code and message (they are meant for
 * users); anything else is an internal fault whose message may reveal internals, so it is replaced.
 */
export function toHttpError(err: unknown): HttpError {
  if (isCairnError(err)) return { status: httpStatusFor(err.code), body: { code: err.code, message: err.message } };
  return { status: 500, body: { code: 'E_INTERNAL', message: 'internal error' } };
}

export function usageError(message: string): CairnError {
  return new CairnError('E_USAGE', message);
}
