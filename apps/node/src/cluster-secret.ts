import { readFile } from 'node:fs/promises';
import { CairnError } from '@cairn/protocol';

/**
 * The cluster secret a node proves itself with: CAIRN_CLUSTER_SECRET, else the file a local
 * controller generated (by default `./.cairn/controller/cluster-secret`), so the quick start needs no
 * key handling. Never a flag: secrets stay out of argv.
 */
export async function loadClusterSecret(file: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const fromEnv = env['CAIRN_CLUSTER_SECRET'];
  if (fromEnv) return fromEnv;
  try {
    const secret = (await readFile(file, 'utf8')).trim();
    if (secret.length > 0) return secret;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  throw new CairnError(
    'E_AUTH',
    `no cluster secret: set CAIRN_CLUSTER_SECRET, or start the controller first so that ${file} exists (or point --cluster-secret-file at it)`,
  );
}
