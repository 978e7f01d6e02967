import crypto, { generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import { CairnError } from './errors';
import { GrantChecker } from './grant-checker';
import { checkGrant, Grant, GRANT_TTL_MS, GrantUse, signGrant, signGrantBatch } from './grants';

fc.configureGlobal({ interruptAfterTimeLimit: 4_000, markInterruptAsFailure: true });

const controller = generateKeyPairSync('ed25519');
const other = generateKeyPairSync('ed25519');

const NOW = 1_700_000_000_000;
const HASHES = ['ab', 'cd', 'ef', '01'].map((h) => h.repeat(32));
const [H1, H2, H3, H4] = HASHES;
const NODES = ['node-1', 'node-2', 'node-3'];

const sign = (grant: Grant, key = controller.privateKey) => signGrant(key, grant);
const bigGet = (over: Partial<Grant> = {}): Grant => ({ op: 'get', hashes: [H1, H2, H3], exp: NOW + GRANT_TTL_MS, ...over });

/** What a check gives: the grant, or the refusal's code and message. */
function outcome(check: () => Grant): { grant: Grant } | { refused: string } {
  try {
    return { grant: check() };
  } catch (err) {
    if (!(err instanceof CairnError)) throw err;
    return { refused: `${err.code}: ${err.message}` };
  }
}

/** Counts Ed25519 verifications (grants.ts calls node:crypto's `verify` through the module object). */
function countVerifies(): { count: () => number; restore: () => void } {
  const spy = jest.spyOn(crypto, 'verify');
  return { count: () => spy.mock.calls.length, restore: () => spy.mockRestore() };
}

describe('GrantChecker', () => {
  it('verifies a grant naming several chunks once, then checks each use against it', () => {
    const checker = new GrantChecker(controller.publicKey);
    const token = sign(bigGet());
    const verifies = countVerifies();
    try {
      for (const hash of [H1, H2, H3, H1]) expect(checker.check(token, { op: 'get', hash, now: NOW })).toEqual(bigGet());
      expect(verifies.count()).toBe(1);
      expect(checker.size).toBe(1);
    } finally {
      verifies.restore();
    }
  });

  it('still refuses, on every use of a remembered grant, a chunk it does not name, the other operation, and expiry', () => {
    const checker = new GrantChecker(controller.publicKey);
    const token = sign(bigGet());
    checker.check(token, { op: 'get', hash: H1, now: NOW });
    expect(outcome(() => checker.check(token, { op: 'get', hash: H4, now: NOW }))).toEqual({ refused: 'E_FORBIDDEN: grant does not cover this chunk' });
    expect(outcome(() => checker.check(token, { op: 'put', hash: H1, nodeId: 'node-1', now: NOW }))).toEqual({ refused: 'E_FORBIDDEN: grant is for get, not put' });
    expect(outcome(() => checker.check(token, { op: 'get', hash: H1, now: NOW + GRANT_TTL_MS + 1 }))).toEqual({ refused: 'E_FORBIDDEN: grant expired' });
    expect(checker.check(token, { op: 'get', hash: H2, now: NOW + GRANT_TTL_MS })).toEqual(bigGet());
  });

  it('checks a remembered put grant against the node, as checkGrant does', () => {
    const checker = new GrantChecker(controller.publicKey);
    const grant: Grant = { op: 'put', hashes: [H1, H2], nodes: ['node-1'], upload: 'u-1', exp: NOW + GRANT_TTL_MS };
    const token = sign(grant);
    expect(checker.check(token, { op: 'put', hash: H1, nodeId: 'node-1', now: NOW })).toEqual(grant);
    expect(outcome(() => checker.check(token, { op: 'put', hash: H2, nodeId: 'node-2', now: NOW }))).toEqual({ refused: 'E_FORBIDDEN: grant does not name this node' });
    expect(outcome(() => checker.check(token, { op: 'put', hash: H2, now: NOW }))).toEqual({ refused: 'E_FORBIDDEN: grant does not name this node' });
  });

  it('keeps no grant refused, nor one expired already', () => {
    const checker = new GrantChecker(controller.publicKey);
    expect(outcome(() => checker.check(sign(bigGet(), other.privateKey), { op: 'get', hash: H1, now: NOW }))).toEqual({ refused: 'E_FORBIDDEN: grant signature does not verify' });
    expect(outcome(() => checker.check(sign(bigGet({ exp: NOW - 1 })), { op: 'get', hash: H1, now: NOW }))).toEqual({ refused: 'E_FORBIDDEN: grant expired' });
    expect(outcome(() => checker.check(sign(bigGet({ hashes: [H1], exp: NOW - 1 })), { op: 'get', hash: H1, now: NOW }))).toEqual({ refused: 'E_FORBIDDEN: grant expired' });
    expect(checker.size).toBe(0);
  });

  it('remembers a grant naming one chunk or none apart: its second check verifies nothing, and still checks the use', () => {
    const checker = new GrantChecker(controller.publicKey, 2, 2);
    const one = sign({ op: 'put', hashes: [H1], nodes: ['node-1'], exp: NOW + 5 });
    const none = sign({ op: 'put', bytes: 4096, nodes: ['node-1'], upload: 'u-2', exp: NOW + GRANT_TTL_MS });
    const many = sign(bigGet());
    checker.check(many, { op: 'get', hash: H1, now: NOW });
    checker.check(one, { op: 'put', hash: H1, nodeId: 'node-1', now: NOW });
    checker.check(none, { op: 'put', hash: H1, size: 10, nodeId: 'node-1', now: NOW });
    const verifies = countVerifies();
    try {
      expect(checker.check(one, { op: 'put', hash: H1, nodeId: 'node-1', now: NOW })).toMatchObject({ hashes: [H1] });
      expect(checker.check(none, { op: 'put', hash: H2, size: 4096, nodeId: 'node-1', now: NOW })).toMatchObject({ upload: 'u-2' });
      expect(outcome(() => checker.check(one, { op: 'put', hash: H2, nodeId: 'node-1', now: NOW }))).toEqual({ refused: 'E_FORBIDDEN: grant does not cover this chunk' });
      expect(outcome(() => checker.check(one, { op: 'put', hash: H1, nodeId: 'node-2', now: NOW }))).toEqual({ refused: 'E_FORBIDDEN: grant does not name this node' });
      expect(outcome(() => checker.check(none, { op: 'put', hash: H2, size: 4097, nodeId: 'node-1', now: NOW }))).toMatchObject({ refused: expect.stringMatching(/^E_FORBIDDEN/) });
      expect(outcome(() => checker.check(one, { op: 'put', hash: H1, nodeId: 'node-1', now: NOW + 6 }))).toEqual({ refused: 'E_FORBIDDEN: grant expired' });
      // Kept apart: single grants beyond the capacity push out the oldest single, never the grant of many.
      for (const i of [1, 2, 3]) checker.check(sign({ op: 'get', hashes: [H3], exp: NOW + GRANT_TTL_MS + i }), { op: 'get', hash: H3, now: NOW });
      const before = verifies.count();
      checker.check(many, { op: 'get', hash: H2, now: NOW });
      expect(verifies.count()).toBe(before);
      checker.check(one, { op: 'put', hash: H1, nodeId: 'node-1', now: NOW }); // pushed out: verified again
      expect(verifies.count()).toBe(before + 1);
    } finally {
      verifies.restore();
    }
  });

  it('remembers up to recentCapacity grants of one chunk, the oldest going first, and sweeps out the expired now and then', () => {
    const checker = new GrantChecker(controller.publicKey, 2, 40);
    const single = (i: number, exp = NOW + GRANT_TTL_MS) => sign({ op: 'get', hashes: [i.toString(16).padStart(64, '0')], exp });
    const use = (i: number, now = NOW) => ({ op: 'get' as const, hash: i.toString(16).padStart(64, '0'), now });
    const tokens = Array.from({ length: 40 }, (_, i) => single(i));
    tokens.forEach((token, i) => checker.check(token, use(i)));
    const verifies = countVerifies();
    try {
      tokens.forEach((token, i) => checker.check(token, use(i))); // all 40 remembered: more than `capacity`
      expect(verifies.count()).toBe(0);
      checker.check(single(40), use(40)); // one more pushes out the oldest
      checker.check(tokens[1], use(1));
      expect(verifies.count()).toBe(1);
      checker.check(tokens[0], use(0));
      expect(verifies.count()).toBe(2);
    } finally {
      verifies.restore();
    }
    // Expired grants go at the next sweep, at most a second after the last one.
    const sweeping = new GrantChecker(controller.publicKey, 2, 40);
    for (const i of [1, 2, 3]) sweeping.check(single(i, NOW + 10), use(i));
    sweeping.check(single(4), use(4, NOW + 500)); // expired ones are kept until the next sweep
    expect(sweeping.size).toBe(4);
    sweeping.check(single(5), use(5, NOW + 1_000));
    expect(sweeping.size).toBe(2);
  });

  it('keeps at most its capacity, dropping the oldest and any expired first', () => {
    const checker = new GrantChecker(controller.publicKey, 2, 2);
    const tokens = [1, 2, 3].map((i) => sign(bigGet({ exp: NOW + i })));
    for (const token of tokens) checker.check(token, { op: 'get', hash: H1, now: NOW });
    expect(checker.size).toBe(2);
    const verifies = countVerifies();
    try {
      checker.check(tokens[2], { op: 'get', hash: H2, now: NOW }); // remembered
      expect(verifies.count()).toBe(0);
      checker.check(tokens[0], { op: 'get', hash: H2, now: NOW }); // the oldest, dropped: verified again
      expect(verifies.count()).toBe(1);
      // At NOW + 3 the first two have expired: a new grant finds room without dropping the third.
      checker.check(sign(bigGet({ exp: NOW + 10 })), { op: 'get', hash: H1, now: NOW + 3 });
      expect(checker.size).toBe(2);
      checker.check(tokens[2], { op: 'get', hash: H3, now: NOW + 3 });
      expect(verifies.count()).toBe(2);
    } finally {
      verifies.restore();
    }
    expect(() => new GrantChecker(controller.publicKey, 0)).toThrow(RangeError);
    expect(() => new GrantChecker(controller.publicKey, 2, 0)).toThrow(RangeError);
  });

  it('hands out a remembered grant frozen, so no caller can widen it for the next', () => {
    const checker = new GrantChecker(controller.publicKey);
    const token = sign(bigGet());
    const grant = checker.check(token, { op: 'get', hash: H1, now: NOW });
    expect(() => (grant.hashes as string[]).push(H4)).toThrow(TypeError);
    expect(() => Object.assign(grant, { exp: NOW * 2 })).toThrow(TypeError);
    expect(outcome(() => checker.check(token, { op: 'get', hash: H4, now: NOW }))).toEqual({ refused: 'E_FORBIDDEN: grant does not cover this chunk' });
  });

  it('decides every use exactly as checkGrant does, whatever the sequence of grants and uses', () => {
    const grantArb = fc.record({
      op: fc.constantFrom('get' as const, 'put' as const),
      hashes: fc.option(fc.subarray(HASHES, { minLength: 1 }), { nil: undefined }),
      bytes: fc.option(fc.integer({ min: 1, max: 8192 }), { nil: undefined }),
      nodes: fc.option(fc.subarray(NODES), { nil: undefined }),
      exp: fc.integer({ min: NOW - 5, max: NOW + 5 }),
      forged: fc.boolean(),
    });
    const useArb = fc.record({
      grant: fc.nat(),
      op: fc.constantFrom('get' as const, 'put' as const),
      hash: fc.constantFrom(...HASHES),
      size: fc.option(fc.integer({ min: 1, max: 8192 }), { nil: undefined }),
      nodeId: fc.option(fc.constantFrom(...NODES), { nil: undefined }),
      now: fc.integer({ min: NOW - 5, max: NOW + 10 }),
    });
    fc.assert(
      fc.property(fc.array(grantArb, { minLength: 1, maxLength: 5 }), fc.array(useArb, { minLength: 1, maxLength: 30 }), fc.integer({ min: 1, max: 3 }), (grants, uses, capacity) => {
        const plain = grants.map(({ forged, ...grant }) => sign(grant, forged ? other.privateKey : controller.privateKey));
        // The same grants as a batch too (when there are several), signed by the controller or not.
        const batch = grants.length > 1 ? signGrantBatch(grants[0].forged ? other.privateKey : controller.privateKey, grants.map(({ forged: _, ...grant }) => grant)) : [];
        const tokens = [...plain, ...batch];
        const checker = new GrantChecker(controller.publicKey, capacity, capacity);
        for (const { grant, ...use } of uses) {
          const token = tokens[grant % tokens.length];
          const want: GrantUse = use;
          expect(outcome(() => checker.check(token, want))).toEqual(outcome(() => checkGrant(controller.publicKey, token, want)));
        }
      }),
      // Each run verifies tens of Ed25519 signatures: kept well inside fast-check's time limit on a busy machine.
      { numRuns: 100 },
    );
  });

  it("verifies a batch's signature once for all its grants, and still checks each grant's path and use", () => {
    const checker = new GrantChecker(controller.publicKey);
    const grants = Array.from({ length: 32 }, (_, i): Grant => ({ op: 'put', bytes: 4096, nodes: ['node-1'], upload: `u-${i}`, exp: NOW + GRANT_TTL_MS }));
    const tokens = signGrantBatch(controller.privateKey, grants);
    const use = { op: 'put' as const, hash: H1, size: 4096, nodeId: 'node-1', now: NOW };
    const verifies = countVerifies();
    try {
      tokens.forEach((token, i) => expect(checker.check(token, use)).toEqual(grants[i]));
      expect(verifies.count()).toBe(1);
      expect(checker.size).toBe(1); // the batch, not its grants
      // A remembered batch makes no grant of it pass that should not: too big, another node, expired.
      expect(outcome(() => checker.check(tokens[5], { ...use, size: 4097 }))).toEqual({ refused: 'E_FORBIDDEN: grant does not cover this chunk' });
      expect(outcome(() => checker.check(tokens[5], { ...use, nodeId: 'node-2' }))).toEqual({ refused: 'E_FORBIDDEN: grant does not name this node' });
      expect(outcome(() => checker.check(tokens[5], { ...use, now: NOW + GRANT_TTL_MS + 1 }))).toEqual({ refused: 'E_FORBIDDEN: grant expired' });
      // Nor a payload edited under the batch's signature and a path of it: that leads to another root.
      const [, signature, path] = tokens[5].split('.');
      const edited = Buffer.from(JSON.stringify({ ...grants[5], bytes: 8192 })).toString('base64url');
      expect(outcome(() => checker.check(`${edited}.${signature}.${path}`, use))).toEqual({ refused: 'E_FORBIDDEN: grant signature does not verify' });
      // Nor another signature carried with a known root.
      const otherSignature = signGrantBatch(other.privateKey, grants)[5].split('.')[1];
      expect(outcome(() => checker.check(`${tokens[5].split('.')[0]}.${otherSignature}.${path}`, use))).toEqual({ refused: 'E_FORBIDDEN: grant signature does not verify' });
    } finally {
      verifies.restore();
    }
  });

  // A checker that has verified real batches skips their signature from then on: nothing spliced or
  // changed from them may pass where checkGrant, which verifies every time, would refuse it.
  it('decides as checkGrant does on grants spliced or changed from batches it has already verified', () => {
    const grantsOf = (tag: string) => Array.from({ length: 5 }, (_, i): Grant => ({ op: 'put', bytes: 4096, nodes: ['node-1'], upload: `${tag}-${i}`, exp: NOW + GRANT_TTL_MS }));
    const batches = [signGrantBatch(controller.privateKey, grantsOf('a')), signGrantBatch(controller.privateKey, grantsOf('b')), signGrantBatch(other.privateKey, grantsOf('c'))];
    const partsOf = (token: string) => token.split('.');
    const token = fc.record({ batch: fc.nat(), member: fc.nat() }).map(({ batch, member }) => batches[batch % 3][member % 5]);
    const spliced = fc.tuple(token, token, token).map(([a, b, c]) => `${partsOf(a)[0]}.${partsOf(b)[1]}.${partsOf(c)[2]}`);
    const flipped = fc.tuple(token, fc.constantFrom(0, 1, 2), fc.nat(), fc.integer({ min: 1, max: 255 })).map(([t, part, at, xor]) => {
      const bytes = partsOf(t).map((p) => Buffer.from(p, 'base64url'));
      bytes[part][at % bytes[part].length] ^= xor;
      return bytes.map((b) => b.toString('base64url')).join('.');
    });
    const use: GrantUse = { op: 'put', hash: H1, size: 4096, nodeId: 'node-1', now: NOW };
    fc.assert(
      fc.property(fc.array(fc.oneof(token, spliced, flipped), { minLength: 1, maxLength: 20 }), fc.integer({ min: 1, max: 3 }), (tokens, capacity) => {
        const checker = new GrantChecker(controller.publicKey, capacity, capacity);
        for (const honest of [...batches[0], ...batches[1]]) checker.check(honest, use); // warm
        for (const t of tokens) expect(outcome(() => checker.check(t, use))).toEqual(outcome(() => checkGrant(controller.publicKey, t, use)));
      }),
      // Each run verifies tens of Ed25519 signatures: kept well inside fast-check's time limit on a busy machine.
      { numRuns: 100 },
    );
  });

  it('refuses a missing grant as checkGrant does', () => {
    const checker = new GrantChecker(controller.publicKey);
    expect(outcome(() => checker.check(undefined, { op: 'get', hash: H1, now: NOW }))).toEqual({ refused: 'E_FORBIDDEN: a grant from the controller is required' });
  });
});
