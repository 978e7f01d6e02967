import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CairnError } from '@cairn/protocol';
import { loadClusterSecret } from './cluster-secret';

describe('loadClusterSecret', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-cluster-secret-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('takes CAIRN_CLUSTER_SECRET first, else the file the controller wrote', async () => {
    const file = join(dir, 'cluster-secret');
    await writeFile(file, 'f'.repeat(64) + '\n');
    expect(await loadClusterSecret(file, { CAIRN_CLUSTER_SECRET: 'e'.repeat(16) })).toBe('e'.repeat(16));
    expect(await loadClusterSecret(file, {})).toBe('f'.repeat(64));
  });

  it('refuses a secret shorter than the controller takes (16 characters) with E_USAGE, naming where it came from', async () => {
    await expect(loadClusterSecret(join(dir, 'none'), { CAIRN_CLUSTER_SECRET: 'short' })).rejects.toEqual(
      new CairnError('E_USAGE', 'the cluster secret (CAIRN_CLUSTER_SECRET) must be at least 16 characters, as the controller requires'),
    );
    const file = join(dir, 'cluster-secret');
    await writeFile(file, 'short\n');
    await expect(loadClusterSecret(file, {})).rejects.toMatchObject({ code: 'E_USAGE', message: `the cluster secret (${file}) must be at least 16 characters, as the controller requires` });
  });

  it('says how to get one when there is none', async () => {
    await expect(loadClusterSecret(join(dir, 'none'), {})).rejects.toMatchObject({ code: 'E_AUTH', message: expect.stringMatching(/^no cluster secret: set CAIRN_CLUSTER_SECRET/) });
    await writeFile(join(dir, 'empty'), '\n');
    await expect(loadClusterSecret(join(dir, 'empty'), {})).rejects.toMatchObject({ code: 'E_AUTH' });
  });
});
