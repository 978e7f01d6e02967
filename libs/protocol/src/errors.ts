/**
 * Every failure that can cross a process boundary has a stable code. Codes are part of the wire
 * contract: they travel in `error` frames, the CLI maps them to exit codes, and tests assert them
 * (never the message text).
 */
export const ERROR_CODES = [
  // framing and protocol
  'E_FRAME_TOO_LARGE',
  'E_FRAME_MALFORMED',
  'E_VERSION',
  'E_UNKNOWN_TYPE',
  'E_BAD_MESSAGE',
  // names and catalog
  'E_NAME_INVALID',
  'E_NOT_FOUND',
  'E_UPLOAD_INVALID',
  // placement and cluster
  'E_NO_NODES',
  'E_UNAVAILABLE',
  'E_TIMEOUT',
  'E_ABORTED',
  // data integrity and disks
  'E_HASH_MISMATCH',
  'E_CORRUPT',
  'E_CAPACITY',
  'E_DISK',
  // security
  'E_AUTH',
  'E_FORBIDDEN',
  // usage and everything else
  'E_USAGE',
  'E_INTERNAL',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

const KNOWN_CODES: ReadonlySet<string> = new Set(ERROR_CODES);

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && KNOWN_CODES.has(value);
}

/** The one error class of Cairn: a stable `code`, a human message, and optional details. */
export class CairnError extends Error {
  override readonly name = 'CairnError';

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }

  /** The shape of an `error` frame body. */
  toWire(): { code: ErrorCode; message: string } {
    return { code: this.code, message: this.message };
  }
}

export function isCairnError(err: unknown, code?: ErrorCode): err is CairnError {
  return err instanceof CairnError && (code === undefined || err.code === code);
}

/** Wraps anything thrown into a CairnError, keeping the code of one that already is. */
export function toCairnError(err: unknown, fallback: ErrorCode = 'E_INTERNAL'): CairnError {
  if (err instanceof CairnError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new CairnError(fallback, message);
}
