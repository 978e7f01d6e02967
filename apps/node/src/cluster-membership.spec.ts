import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLUSTER_ID_FILE, ClusterMembership } from './cluster-membership';

const A = 'a'.repeat(32);
const B = 'b'.repeat(32);

describe('ClusterMembership', () => {
  let dir: string;
  let chunks: number;
  let membership: ClusterMembership;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-membership-'));
    chunks = 0;
    membership = new ClusterMembership(dir, () => chunks);
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const kept = async () => (await readFile(join(dir, CLUSTER_ID_FILE), 'utf8')).trim();

  it('keeps the first cluster it joins, and joins it again', async () => {
    await membership.join(A);
    expect(await kept()).toBe(A);
    chunks = 10;
    await membership.join(A);
    expect(await kept()).toBe(A);
  });

  it('refuses another cluster while it holds chunks, saying whose they are, and keeps its id', async () => {
    await membership.join(A);
    chunks = 268;
    await expect(membership.join(B)).rejects.toMatchObject({
      code: 'E_FORBIDDEN',
      message: expect.stringContaining(`this node's 268 chunk(s) belong to cluster ${A}, and this controller's cluster is ${B}`),
    });
    expect(await kept()).toBe(A);
  });

  it('joins any cluster while it holds no chunk, and keeps that one from then', async () => {
    await membership.join(A);
    await membership.join(B);
    expect(await kept()).toBe(B);
  });

  it('takes the first id it is told when it kept none (a node from before cluster ids), chunks or not', async () => {
    chunks = 5;
    await membership.join(B);
    expect(await kept()).toBe(B);
  });

  it('joins, with a warning, when the id cannot be kept (a full or read-only disk)', async () => {
    const warnings: string[] = [];
    const blocked = new ClusterMembership(join(dir, 'no-such-dir'), () => 3, (message) => warnings.push(message));
    await blocked.join(A);
    expect(warnings).toEqual([expect.stringContaining('cannot keep the cluster id')]);
  });

  it('refuses to guess over a file that holds no cluster id', async () => {
    await writeFile(join(dir, CLUSTER_ID_FILE), 'garbage\n');
    await expect(membership.join(A)).rejects.toMatchObject({ code: 'E_DISK' });
  });
});
