import { KeyObject, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CairnError } from '@cairn/protocol';
import { writeFileAtomically } from '@cairn/transfer';

/** File names in the controller's data directory (DESIGN.md: found there by nodes and clients). */
export const CLUSTER_SECRET_FILE = 'cluster-secret';
export const ADMIN_TOKEN_FILE = 'admin-token';
export const GRANT_KEY_FILE = 'grant-key.pem';

const SECRET_MODE = 0o600;
const DIR_MODE = 0o700;

export interface ControllerKeys {
  clusterSecret: string;
  adminToken: string;
  grantPrivateKey: KeyObject;
  /** SPKI PEM, sent to nodes inside the authenticated handshake. */
  grantPublicKeyPem: string;
}

/**
 * The controller's secrets: from CAIRN_CLUSTER_SECRET / CAIRN_ADMIN_TOKEN when set, otherwise
 * generated once into the data directory (files 0600, directory 0700) and read back on later starts.
 * The Ed25519 grant key is always a file: nodes never see it, only its public half.
 */
export async function loadControllerKeys(dataDir: string, env: NodeJS.ProcessEnv = process.env): Promise<ControllerKeys> {
  await mkdir(dataDir, { recursive: true, mode: DIR_MODE });
  await chmod(dataDir, DIR_MODE);
  const clusterSecret = env['CAIRN_CLUSTER_SECRET'] || (await readOrCreate(join(dataDir, CLUSTER_SECRET_FILE), () => randomBytes(32).toString('hex')));
  const adminToken =
    env['CAIRN_ADMIN_TOKEN'] || (await readOrCreate(join(dataDir, ADMIN_TOKEN_FILE), () => `cairn_admin_${randomBytes(32).toString('base64url')}`));
  if (clusterSecret.length < 16) throw new CairnError('E_USAGE', 'the cluster secret must be at least 16 characters');
  if (adminToken.length < 16) throw new CairnError('E_USAGE', 'the admin token must be at least 16 characters');
  const pem = await readOrCreate(join(dataDir, GRANT_KEY_FILE), () =>
    generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  );
  const grantPrivateKey = createPrivateKey(pem);
  const grantPublicKeyPem = createPublicKey(grantPrivateKey).export({ type: 'spki', format: 'pem' }).toString();
  return { clusterSecret, adminToken, grantPrivateKey, grantPublicKeyPem };
}

/** Reads a secret file, or creates it atomically with mode 0600 the first time. */
export async function readOrCreate(path: string, make: () => string): Promise<string> {
  try {
    const text = (await readFile(path, 'utf8')).trim();
    if (text.length > 0) {
      await chmod(path, SECRET_MODE); // whoever copied it in, it stays readable by us alone
      return text;
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const value = make();
  await writeFileAtomically(path, [Buffer.from(`${value}\n`)], { mode: SECRET_MODE });
  return value;
}
