import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const OPENSSL = '/usr/bin/openssl';

export interface TestCa {
  /** The CA certificate (PEM) clients and nodes pass as `--ca`. */
  ca: string;
  /** A server certificate for IP 127.0.0.1, signed by the CA, and its key: `--tls-cert` / `--tls-key`. */
  cert: string;
  key: string;
}

/**
 * Makes a private CA and a server certificate for 127.0.0.1 in `dir`, at test time (no key is ever
 * committed): CA key + self-signed CA certificate, server key + CSR, signed by the CA with
 * subjectAltName=IP:127.0.0.1. P-256 keys, valid for one day.
 */
export async function makeTestCa(dir: string): Promise<TestCa> {
  const path = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => run(OPENSSL, args, { cwd: dir });
  await openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', path('ca.key'));
  await openssl(
    'req', '-x509', '-new', '-key', path('ca.key'), '-sha256', '-days', '1', '-subj', '/CN=Cairn test CA',
    '-out', path('ca.pem'),
  );
  await openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', path('server.key'));
  await openssl('req', '-new', '-key', path('server.key'), '-subj', '/CN=127.0.0.1', '-out', path('server.csr'));
  await writeFile(
    path('server.ext'),
    [
      'subjectAltName=IP:127.0.0.1',
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth,clientAuth',
      '',
    ].join('\n'),
  );
  await openssl(
    'x509', '-req', '-in', path('server.csr'), '-CA', path('ca.pem'), '-CAkey', path('ca.key'), '-CAcreateserial',
    '-days', '1', '-sha256', '-extfile', path('server.ext'), '-out', path('server.pem'),
  );
  return { ca: path('ca.pem'), cert: path('server.pem'), key: path('server.key') };
}
