import { getSystemErrorMap } from 'node:util';
import { isCairnError } from '@cairn/protocol';

/** Exit codes of a server process (README): 2 for what the operator must change in how it is started. */
const EXIT_USAGE = 2;
const EXIT_FAILURE = 1;

/**
 * Runs a server process's `main`. A failure is one line on stderr, `<name>: <message>`, and the exit
 * code is 2 for a usage error (a mistake in the options), else 1:
 * - a CairnError: its message; exit 2 for E_USAGE;
 * - a system call's error (an errno `code` and a `syscall`, as fs throws: a --data it cannot make, a
 *   key file it cannot chmod): `cannot mkdir /sys/x: operation not permitted`, naming the path; exit 2
 *   where the path is of the wrong kind (a file where a directory must be), else 1;
 * - an OpenSSL error (a `code` ERR_OSSL_…, or its `library` and `reason`): `TLS: key values mismatch
 *   (check --tls-cert and --tls-key)`; exit 2, since those are files the options name;
 * - anything else is a bug, and keeps its stack.
 */
export function runMain(name: string, main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    const { message, exitCode } = describeFailure(err);
    process.stderr.write(`${name}: ${message}\n`);
    process.exit(exitCode);
  });
}

/** What runMain says of a failed main, and how it exits. */
function describeFailure(err: unknown): { message: string; exitCode: number } {
  if (isCairnError(err)) return { message: err.message, exitCode: isCairnError(err, 'E_USAGE') ? EXIT_USAGE : EXIT_FAILURE };
  if (isSystemError(err)) return { message: `cannot ${operation(err)}: ${systemReason(err)}`, exitCode: WRONG_KIND.has(err.code) ? EXIT_USAGE : EXIT_FAILURE };
  if (isOpenSslError(err)) return openSslFailure(err);
  return { message: (err as Error)?.stack ?? String(err), exitCode: EXIT_FAILURE };
}

/** A system call's error, as Node's fs, net and dns functions throw (not told by `instanceof`: realms). */
interface SystemError {
  code: string;
  syscall: string;
  errno?: number;
  path?: string;
  dest?: string;
  address?: string;
  port?: number;
  hostname?: string;
}

function isSystemError(err: unknown): err is SystemError {
  const { code, syscall } = (err ?? {}) as Partial<SystemError>;
  return typeof code === 'string' && typeof syscall === 'string';
}

/** Errnos that say a path is of the wrong kind: the operator gave a file for a directory, or the like. */
const WRONG_KIND: ReadonlySet<string> = new Set(['EEXIST', 'ENOTDIR', 'EISDIR']);

/** Where the system's words are unclear: EISDIR's are `illegal operation on a directory`. */
const PLAINER: Readonly<Record<string, string>> = { EISDIR: 'is a directory' };

/** `mkdir afile`, `rename a b`, `connect 10.0.0.5:7700`: the call and what it was given, as it was given. */
function operation(err: SystemError): string {
  const target = err.path ?? err.hostname ?? (err.address === undefined ? undefined : err.port === undefined ? err.address : `${err.address}:${err.port}`);
  return [err.syscall, target, err.dest].filter((part) => part !== undefined).join(' ');
}

/** The system's own words for an errno (`permission denied` for EACCES), or its code where it has none. */
function systemReason(err: SystemError): string {
  return PLAINER[err.code] ?? ((err.errno !== undefined && getSystemErrorMap().get(err.errno)?.[1]) || err.code);
}

/** An OpenSSL error as node:crypto and node:tls throw them: `code` ERR_OSSL_…, and its `library` and `reason`. */
interface OpenSslError {
  code?: string;
  library?: string;
  reason?: string;
  message: string;
}

function isOpenSslError(err: unknown): err is OpenSslError {
  const { code, library, reason } = (err ?? {}) as OpenSslError;
  return (typeof code === 'string' && code.startsWith('ERR_OSSL_')) || (typeof library === 'string' && typeof reason === 'string');
}

/**
 * OpenSSL's libraries that read certificates and set up TLS: their errors at start come from the
 * files of --tls-cert and --tls-key (a key of another certificate, the two swapped). Others (`DECODER
 * routines`) may come from a key the process keeps in its data directory, and are not blamed on TLS.
 */
const TLS_LIBRARIES: ReadonlySet<string> = new Set(['x509 certificate routines', 'PEM routines', 'SSL routines']);

function openSslFailure(err: OpenSslError): { message: string; exitCode: number } {
  const reason = err.reason ?? err.message;
  if (err.library !== undefined && TLS_LIBRARIES.has(err.library)) return { message: `TLS: ${reason} (check --tls-cert and --tls-key)`, exitCode: EXIT_USAGE };
  return { message: `cannot use a key or certificate: ${reason}${err.library ? ` (${err.library})` : ''}`, exitCode: EXIT_FAILURE };
}

/**
 * Calls `stop` once, on the first SIGINT or SIGTERM (a second signal while stopping does nothing),
 * then exits 0. Returns the same once-only stop, for other reasons to shut down.
 */
export function stopOnSignals(stop: (signal: string) => Promise<void>): (signal: string) => Promise<void> {
  let stopping = false;
  const once = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    await stop(signal);
    process.exit(0);
  };
  process.on('SIGINT', () => void once('SIGINT'));
  process.on('SIGTERM', () => void once('SIGTERM'));
  return once;
}
