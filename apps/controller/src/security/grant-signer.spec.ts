import { generateKeyPairSync } from 'node:crypto';
import { GRANT_TTL_MS, checkGrant, verifiedGrant } from '@cairn/protocol';
import { GrantSigner, REUSABLE_GET_HASHES, REUSED_GET_GRANTS } from './grant-signer';

const { publicKey, privateKey } = generateKeyPairSync('ed25519');
const hash = (i: number) => i.toString(16).padStart(64, '0');

/** A signer on a clock the test moves. */
function signer() {
  let now = 1_000_000;
  const grants = new GrantSigner(privateKey, GRANT_TTL_MS, () => now);
  return { grants, advance: (ms: number) => (now += ms), now: () => now };
}

describe('GrantSigner', () => {
  it('hands out the same read grant for the same few chunks while 9/10 of its lifetime is left, then a new one', () => {
    const { grants, advance, now } = signer();
    const first = grants.get([hash(1)]);
    expect(checkGrant(publicKey, first, { op: 'get', hash: hash(1), now: now() }).exp).toBe(now() + GRANT_TTL_MS);

    advance(GRANT_TTL_MS / 10);
    expect(grants.get([hash(1)])).toBe(first);
    expect(grants.get([hash(2)])).not.toBe(first); // other chunks, another grant
    expect(grants.get([hash(1), hash(2)])).not.toBe(first);

    advance(1);
    const renewed = grants.get([hash(1)]);
    expect(renewed).not.toBe(first);
    expect(verifiedGrant(publicKey, renewed)).toMatchObject({ op: 'get', hashes: [hash(1)], exp: now() + GRANT_TTL_MS });
    expect(grants.get([hash(1)])).toBe(renewed);
  });

  it('never hands out a kept grant that would outlive a fresh one (the clock stepped back)', () => {
    const { grants, advance, now } = signer();
    const first = grants.get([hash(1)]);
    advance(-1_000);
    const fresh = grants.get([hash(1)]);
    expect(fresh).not.toBe(first);
    expect(verifiedGrant(publicKey, fresh).exp).toBe(now() + GRANT_TTL_MS);
  });

  it(`signs a read grant of more than ${REUSABLE_GET_HASHES} chunks each time`, () => {
    const { grants, advance } = signer();
    const many = Array.from({ length: REUSABLE_GET_HASHES + 1 }, (_, i) => hash(i));
    const first = grants.get(many);
    advance(1);
    expect(grants.get(many)).not.toBe(first);
    const few = many.slice(0, REUSABLE_GET_HASHES);
    const kept = grants.get(few);
    advance(1);
    expect(grants.get(few)).toBe(kept);
  });

  it(`keeps at most ${REUSED_GET_GRANTS} grants, the oldest going first`, () => {
    const { grants, advance } = signer();
    const first = Array.from({ length: REUSED_GET_GRANTS }, (_, i) => grants.get([hash(i)]));
    advance(1);
    expect(grants.get([hash(REUSED_GET_GRANTS - 1)])).toBe(first[REUSED_GET_GRANTS - 1]);
    grants.get([hash(REUSED_GET_GRANTS)]); // one more: the oldest makes room
    expect(grants.get([hash(1)])).toBe(first[1]);
    expect(grants.get([hash(0)])).not.toBe(first[0]);
  });

  it('signs put grants each time', () => {
    const { grants, advance } = signer();
    const first = grants.put(hash(1), ['n1', 'n2'], 'u1');
    advance(1);
    expect(grants.put(hash(1), ['n1', 'n2'], 'u1')).not.toBe(first);
    expect(checkGrant(publicKey, first, { op: 'put', hash: hash(1), nodeId: 'n2', now: 1_000_000 })).toMatchObject({ upload: 'u1' });
  });
});
