import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { getSystemErrorMap } from 'node:util';
import { CairnError, isCairnError } from '@cairn/protocol';

/**
 * The files a server's options name, checked before it starts, so that an operator's mistake is one
 * line naming the option (exit 2) rather than a failure deep in start-up (a stack trace from mkdir or
 * OpenSSL). `what` is where the option's value came from (`--data`, `CAIRN_DATA`, `data in config file
 * …`, as `optionSource` says).
 */

/**
 * --data: a directory, or a path still to be made. One that names a file (or lies under one) is a
 * usage error here, before anything is written; other failures (permissions) come from making it.
 */
export function checkDataDirectory(path: string, what: string): string {
  try {
    if (!statSync(path).isDirectory()) throw new CairnError('E_USAGE', `${path} (${what}) is not a directory`);
  } catch (err) {
    if (isCairnError(err)) throw err;
    if ((err as NodeJS.ErrnoException).code === 'ENOTDIR') throw new CairnError('E_USAGE', `${path} (${what}): part of the path is a file, not a directory`);
  }
  return path;
}

/**
 * --tls-cert and --tls-key, read and checked as the HTTPS server will use them: each readable, the
 * certificate a PEM certificate, the key an unencrypted PEM private key, the key the certificate's.
 */
export function checkTlsFiles(cert: string | undefined, key: string | undefined, source: (option: 'tls-cert' | 'tls-key') => string): { cert: string; key: string } | undefined {
  if (Boolean(cert) !== Boolean(key)) throw new CairnError('E_USAGE', '--tls-cert and --tls-key go together');
  if (!cert || !key) return undefined;
  const certPem = readOptionFile(cert, 'TLS certificate', source('tls-cert'));
  const keyPem = readOptionFile(key, 'TLS key', source('tls-key'));
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(certPem);
  } catch {
    const swapped = privateKeyOf(certPem) !== undefined ? ': it holds a private key (are --tls-cert and --tls-key swapped?)' : '';
    throw new CairnError('E_USAGE', `${cert} (${source('tls-cert')}) is not a PEM certificate${swapped}`);
  }
  const privateKey = privateKeyOf(keyPem);
  if (!privateKey) throw new CairnError('E_USAGE', `${key} (${source('tls-key')}) is not an unencrypted PEM private key`);
  if (!certificate.checkPrivateKey(privateKey)) {
    throw new CairnError('E_USAGE', `the TLS key ${key} (${source('tls-key')}) is not the key of the certificate ${cert} (${source('tls-cert')})`);
  }
  try {
    createSecureContext({ cert: certPem, key: keyPem });
  } catch (err) {
    throw new CairnError('E_USAGE', `TLS: ${(err as { reason?: string }).reason ?? (err as Error).message} (check ${source('tls-cert')} and ${source('tls-key')})`);
  }
  return { cert, key };
}

/**
 * --ca: readable, and a PEM certificate (TLS itself takes a file of anything without a word, and then
 * trusts nothing: every connection to the controller would fail its handshake, for ever).
 */
export function checkCaFile(path: string, what: string): string {
  const pem = readOptionFile(path, 'CA file', what);
  try {
    new X509Certificate(pem);
  } catch {
    throw new CairnError('E_USAGE', `${path} (${what}) is not a PEM certificate`);
  }
  return path;
}

function privateKeyOf(pem: Buffer): KeyObject | undefined {
  try {
    return createPrivateKey(pem);
  } catch {
    return undefined;
  }
}

/** A file an option names, read whole; one that cannot be read is a usage error naming it and the option. */
function readOptionFile(path: string, what: string, option: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new CairnError('E_USAGE', `cannot read the ${what} ${path} (${option}): ${systemReason(err)}`);
  }
}

/** The system's words for a failed call (`no such file or directory`), not Node's message with the syscall. */
function systemReason(err: unknown): string {
  const { errno, code, message } = err as NodeJS.ErrnoException;
  if (code === 'EISDIR') return 'is a directory'; // the system's words: `illegal operation on a directory`
  return (errno !== undefined && getSystemErrorMap().get(errno)?.[1]) || code || message;
}
