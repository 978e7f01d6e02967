import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { CairnError, type Frame, GRANT_TTL_MS, signGrant } from '@cairn/protocol';
import type { ChunkStore } from '@cairn/chunk-store';
import type { NodePool } from '@cairn/transfer';
import { createChunkService } from './chunk-service';

const H1 = 'ab'.repeat(32);
const H2 = 'cd'.repeat(32);

/** A store that holds every chunk and stores any: enough for `chunk.has` and `chunk.put` here. */
const store = { has: async () => true, put: async () => ({ stored: true }) } as unknown as ChunkStore;

function serviceWithKey(key: () => KeyObject | undefined) {
  return createChunkService({ store, nodeId: 'node-1', nodes: {} as NodePool, grantKey: key, onQuarantined: () => undefined, clusterSecret: 'x'.repeat(32) });
}

const has = (grant: string): Frame => ({ type: 'chunk.has', requestId: 1, body: { hashes: [H1, H2], grant } }) as Frame;

async function refusal(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(CairnError);
    return (err as CairnError).code;
  }
  throw new Error('expected a refusal');
}

describe('chunk service grant checks', () => {
  it('forgets the grants it verified when the controller key changes (a node that joined another controller)', async () => {
    const first = generateKeyPairSync('ed25519');
    const second = generateKeyPairSync('ed25519');
    let key: KeyObject | undefined = first.publicKey;
    const service = serviceWithKey(() => key);
    const grant = signGrant(first.privateKey, { op: 'get', hashes: [H1, H2], exp: Date.now() + GRANT_TTL_MS });
    await expect(service.forClients(has(grant))).resolves.toMatchObject({ type: 'chunk.present', body: { present: [true, true] } });
    key = second.publicKey; // the first controller's grants, remembered or not, are no longer good
    expect(await refusal(service.forClients(has(grant)))).toBe('E_FORBIDDEN');
    const fromSecond = signGrant(second.privateKey, { op: 'get', hashes: [H1, H2], exp: Date.now() + GRANT_TTL_MS });
    await expect(service.forClients(has(fromSecond))).resolves.toMatchObject({ type: 'chunk.present' });
  });

  it('serves nothing before it has joined a controller', async () => {
    const controller = generateKeyPairSync('ed25519');
    const grant = signGrant(controller.privateKey, { op: 'get', hashes: [H1, H2], exp: Date.now() + GRANT_TTL_MS });
    expect(await refusal(serviceWithKey(() => undefined).forClients(has(grant)))).toBe('E_UNAVAILABLE');
  });
});

describe('chunk service: what prepared uploads stored', () => {
  it("tells its controller which chunk each prepared upload's grant stored, and serves that to no client", async () => {
    const controller = generateKeyPairSync('ed25519');
    const service = serviceWithKey(() => controller.publicKey);
    // A prepared upload's grant names its upload and a size, no chunk.
    const grant = signGrant(controller.privateKey, { op: 'put', bytes: 4096, nodes: ['node-1'], upload: 'upload-a', exp: Date.now() + GRANT_TTL_MS });
    const put = { type: 'chunk.put', requestId: 1, hash: H1, payload: Buffer.alloc(10), grant } as unknown as Frame;
    await expect(service.forClients(put)).resolves.toMatchObject({ type: 'chunk.stored', body: { hash: H1 } });
    const find = (uploads: string[]) => ({ type: 'chunk.find-prepared', requestId: 2, body: { uploads } }) as Frame;
    await expect(service.forController(find(['upload-a', 'upload-b']))).resolves.toEqual({ type: 'chunk.found-prepared', body: { hashes: [H1] } });
    await expect(service.forController(find(['upload-b']))).resolves.toEqual({ type: 'chunk.found-prepared', body: { hashes: [] } });
    expect(await refusal(service.forClients(find(['upload-a'])))).toBe('E_UNKNOWN_TYPE');
  });
});
