import { ErrorCode } from '@cairn/protocol';

/** Exit codes of the CLI (documented in the README): scripts may branch on them. */
export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 2,
  notFound: 3,
  auth: 4,
  unavailable: 5,
  integrity: 6,
} as const;

export function exitCodeFor(code: ErrorCode): number {
  switch (code) {
    case 'E_USAGE':
    case 'E_NAME_INVALID':
      return EXIT.usage;
    case 'E_NOT_FOUND':
      return EXIT.notFound;
    case 'E_AUTH':
    case 'E_FORBIDDEN':
      return EXIT.auth;
    case 'E_UNAVAILABLE':
    case 'E_NO_NODES':
    case 'E_TIMEOUT':
      return EXIT.unavailable;
    case 'E_CORRUPT':
    case 'E_HASH_MISMATCH':
      return EXIT.integrity;
    default:
      return EXIT.failure;
  }
}
