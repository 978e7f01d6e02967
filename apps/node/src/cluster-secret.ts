import { readFile } from 'node:fs/promises';
import { CairnError } from '@cairn/protocol';

/** As the controller requires of its own (security/key-files.ts): a shorter one it never accepts. */
export const MIN_CLUSTER_SECRET_LENGTH = 16;

/**
 * The cluster secret a node proves itself with: CAIRN_CLUSTER_SECRET, else the file a local
 * controller generated (by default `./.cairn/controller/cluster-secret`), so the quick start needs no
 * key handling. Never a flag: secrets stay out of argv. One shorter than the controller takes is a
 * usage error at start, not a node that fails to authenticate for ever.
 */
export async function loadClusterSecret(file: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const fromEnv = env['CAIRN_CLUSTER_SECRET'];
  if (fromEnv) return longEnough(fromEnv, 'CAIRN_CLUSTER_SECRET');
  const secret = await readFile(file, 'utf8').then(
    (text) => text.trim(),
    (err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
      return '';
    },
  );
  if (secret.length > 0) return longEnough(secret, file);
  throw new CairnError(
    'E_AUTH',
    `no cluster secret: set CAIRN_CLUSTER_SECRET, or start the controller first so that ${file} exists (or point --cluster-secret-file at it)`,
  );
}

function longEnough(secret: string, from: string): string {
  if (secret.length < MIN_CLUSTER_SECRET_LENGTH) {
    throw new CairnError('E_USAGE', `the cluster secret (${from}) must be at least ${MIN_CLUSTER_SECRET_LENGTH} characters, as the controller requires`);
  }
  return secret;
}
