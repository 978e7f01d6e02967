import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

export interface SelfSignedCert {
  /** Paths of the certificate and its key (PEM). */
  cert: string;
  key: string;
  /** The certificate's bytes: what a client that trusts it passes as its CA. */
  ca: Buffer;
  /** Removes the files. */
  remove: () => Promise<void>;
}

/**
 * A throwaway self-signed certificate for 127.0.0.1 (P-256, valid for a day), made at test time in a
 * temp dir of its own: no key is ever committed.
 */
export async function makeSelfSignedCert(): Promise<SelfSignedCert> {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-tls-'));
  const [cert, key] = [join(dir, 'cert.pem'), join(dir, 'key.pem')];
  await promisify(execFile)('/usr/bin/openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-keyout', key, '-out', cert,
    '-days', '1', '-nodes', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
  ]);
  return { cert, key, ca: await readFile(cert), remove: () => rm(dir, { recursive: true, force: true }) };
}
