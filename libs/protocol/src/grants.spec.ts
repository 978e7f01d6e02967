import { createPublicKey, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import fc from 'fast-check';
import { CairnError } from './errors';
import { checkGrant, Grant, GRANT_EXPIRED, GRANT_TTL_MS, MAX_GRANT_BYTES, signGrant, signGrantBatch, unverifiedGrantExpiry } from './grants';
import { MAX_CHUNK_SIZE, MAX_PAGE } from './limits';

fc.configureGlobal({ interruptAfterTimeLimit: 4_000, markInterruptAsFailure: true });

// The controller's signing key; nodes hold only its public half.
const controller = generateKeyPairSync('ed25519');
// Any other key: a node's own, an attacker's. Nothing it signs may pass.
const other = generateKeyPairSync('ed25519');

const NOW = 1_700_000_000_000;
const H1 = 'ab'.repeat(32);
const H2 = 'cd'.repeat(32);
const H3 = 'ef'.repeat(32);

const getGrant = (over: Partial<Grant> = {}): Grant => ({ op: 'get', hashes: [H1, H2], exp: NOW + GRANT_TTL_MS, ...over });
const putGrant = (over: Partial<Grant> = {}): Grant => ({ op: 'put', hashes: [H1], nodes: ['node-1', 'node-2'], exp: NOW + GRANT_TTL_MS, ...over });

/** Runs `fn` and returns the CairnError it threw (fails the test if it threw nothing or something else). */
function refusal(fn: () => unknown): CairnError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CairnError);
    return err as CairnError;
  }
  throw new Error('expected a CairnError, but nothing was thrown');
}

const forbidden = (fn: () => unknown) => expect(refusal(fn).code).toBe('E_FORBIDDEN');

/** A grant string built by hand: any payload bytes, signed by any key (or given any signature). */
function handMade(payload: Buffer | string, signature?: Buffer): string {
  const bytes = Buffer.isBuffer(payload) ? payload : Buffer.from(payload, 'utf8');
  const sig = signature ?? sign(null, bytes, controller.privateKey);
  return `${bytes.toString('base64url')}.${sig.toString('base64url')}`;
}

/** The two dot-separated parts of a grant string. */
const parts = (grant: string) => grant.split('.') as [string, string];

describe('signGrant → checkGrant', () => {
  it('accepts a get grant for each hash it covers and returns what was signed', () => {
    const grant = signGrant(controller.privateKey, getGrant());
    for (const hash of [H1, H2]) {
      expect(checkGrant(controller.publicKey, grant, { op: 'get', hash, now: NOW })).toEqual(getGrant());
    }
  });

  it('accepts a put grant on each node it names', () => {
    const grant = signGrant(controller.privateKey, putGrant());
    for (const nodeId of ['node-1', 'node-2']) {
      expect(checkGrant(controller.publicKey, grant, { op: 'put', hash: H1, nodeId, now: NOW })).toEqual(putGrant());
    }
  });

  it('is base64url(JSON).base64url(64-byte Ed25519 signature), safe in URLs, JSON and frames', () => {
    const grant = signGrant(controller.privateKey, putGrant());
    expect(grant).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{86}$/);
    const [payload, signature] = parts(grant);
    expect(JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'))).toEqual(putGrant());
    expect(Buffer.from(signature, 'base64url')).toHaveLength(64);
  });

  it('verifies with the public key as nodes receive it (SPKI PEM in node.challenge)', () => {
    const pem = controller.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const grant = signGrant(controller.privateKey, getGrant());
    expect(checkGrant(createPublicKey(pem), grant, { op: 'get', hash: H2, now: NOW }).op).toBe('get');
  });

  it('uses the clock when no `now` is given', () => {
    const fresh = signGrant(controller.privateKey, getGrant({ exp: Date.now() + GRANT_TTL_MS }));
    const stale = signGrant(controller.privateKey, getGrant({ exp: Date.now() - 1 }));
    expect(checkGrant(controller.publicKey, fresh, { op: 'get', hash: H1 }).op).toBe('get');
    forbidden(() => checkGrant(controller.publicKey, stale, { op: 'get', hash: H1 }));
  });

  it('lives GRANT_TTL_MS: valid up to and including exp, refused one millisecond later', () => {
    expect(GRANT_TTL_MS).toBeGreaterThanOrEqual(60_000);
    const grant = signGrant(controller.privateKey, getGrant({ exp: NOW + GRANT_TTL_MS }));
    expect(checkGrant(controller.publicKey, grant, { op: 'get', hash: H1, now: NOW + GRANT_TTL_MS }).op).toBe('get');
    forbidden(() => checkGrant(controller.publicKey, grant, { op: 'get', hash: H1, now: NOW + GRANT_TTL_MS + 1 }));
  });

  it('fits a grant for a full page of hashes and the most nodes within MAX_GRANT_BYTES', () => {
    const hashes = Array.from({ length: MAX_PAGE }, (_, i) => i.toString(16).padStart(64, '0'));
    const nodes = Array.from({ length: 16 }, (_, i) => `n${i}`.padEnd(64, 'x'));
    const grant = signGrant(controller.privateKey, { op: 'put', hashes, nodes, exp: Number.MAX_SAFE_INTEGER });
    expect(Buffer.byteLength(grant)).toBeLessThanOrEqual(MAX_GRANT_BYTES);
    expect(checkGrant(controller.publicKey, grant, { op: 'put', hash: hashes[MAX_PAGE - 1], nodeId: nodes[15], now: NOW }).hashes).toHaveLength(MAX_PAGE);
  });
});

describe('an expired grant, as a reader meets it', () => {
  it('is refused with the GRANT_EXPIRED text, and its expiry can be read without the key', () => {
    const token = signGrant(controller.privateKey, getGrant({ exp: NOW - 1 }));
    expect(() => checkGrant(controller.publicKey, token, { op: 'get', hash: H1, now: NOW })).toThrow(GRANT_EXPIRED);
    expect(unverifiedGrantExpiry(token)).toBe(NOW - 1);
    expect(unverifiedGrantExpiry(signGrantBatch(controller.privateKey, [getGrant(), putGrant()])[1])).toBe(NOW + GRANT_TTL_MS);
    expect(unverifiedGrantExpiry('not a grant')).toBeUndefined();
  });
});

describe("a prepared upload's put grant (no hashes, a size)", () => {
  const prepared = (over: Partial<Grant> = {}): Grant => ({ op: 'put', bytes: 4096, nodes: ['node-1', 'node-2'], upload: 'u-prepared', exp: NOW + GRANT_TTL_MS, ...over });
  const { hashes: _none, ...unnamed } = putGrant();

  it('lets each node it names accept a chunk of any hash up to its size (the node keeps it to one: apps/node)', () => {
    const grant = signGrant(controller.privateKey, prepared());
    for (const [hash, size] of [[H1, 4096], [H2, 1], [H3, 0]] as const) {
      expect(checkGrant(controller.publicKey, grant, { op: 'put', hash, size, nodeId: 'node-2', now: NOW })).toEqual(prepared());
    }
  });

  it('refuses a larger chunk, a chunk of unknown size (a claim), another node, a read, an expired grant', () => {
    const grant = signGrant(controller.privateKey, prepared());
    forbidden(() => checkGrant(controller.publicKey, grant, { op: 'put', hash: H1, size: 4097, nodeId: 'node-1', now: NOW }));
    forbidden(() => checkGrant(controller.publicKey, grant, { op: 'put', hash: H1, nodeId: 'node-1', now: NOW }));
    forbidden(() => checkGrant(controller.publicKey, grant, { op: 'put', hash: H1, size: 1, nodeId: 'node-3', now: NOW }));
    forbidden(() => checkGrant(controller.publicKey, grant, { op: 'get', hash: H1, size: 1, now: NOW }));
    forbidden(() => checkGrant(controller.publicKey, grant, { op: 'put', hash: H1, size: 1, nodeId: 'node-1', now: NOW + GRANT_TTL_MS + 1 }));
  });

  it('opens nothing without a size, and nothing to read', () => {
    const sizeless = signGrant(controller.privateKey, unnamed);
    forbidden(() => checkGrant(controller.publicKey, sizeless, { op: 'put', hash: H1, size: 1, nodeId: 'node-1', now: NOW }));
    const read = signGrant(controller.privateKey, { op: 'get', bytes: 4096, exp: NOW + GRANT_TTL_MS });
    forbidden(() => checkGrant(controller.publicKey, read, { op: 'get', hash: H1, size: 1, now: NOW }));
  });

  it('does not widen a grant that names hashes: a size does not open other chunks', () => {
    const both = signGrant(controller.privateKey, putGrant({ bytes: 4096 }));
    expect(checkGrant(controller.publicKey, both, { op: 'put', hash: H1, size: 1, nodeId: 'node-1', now: NOW }).hashes).toEqual([H1]);
    forbidden(() => checkGrant(controller.publicKey, both, { op: 'put', hash: H2, size: 1, nodeId: 'node-1', now: NOW }));
  });
});

describe('checkGrant refuses with E_FORBIDDEN', () => {
  const valid = signGrant(controller.privateKey, getGrant());

  it('a forged signature', () => {
    const [payload, signature] = parts(valid);
    forbidden(() => checkGrant(controller.publicKey, `${payload}.${randomBytes(64).toString('base64url')}`, { op: 'get', hash: H1, now: NOW }));
    const flipped = Buffer.from(signature, 'base64url');
    flipped[10] ^= 0x01;
    forbidden(() => checkGrant(controller.publicKey, `${payload}.${flipped.toString('base64url')}`, { op: 'get', hash: H1, now: NOW }));
    forbidden(() => checkGrant(controller.publicKey, `${payload}.${Buffer.alloc(64).toString('base64url')}`, { op: 'get', hash: H1, now: NOW }));
  });

  it('a signature of the wrong length (truncated, padded, empty)', () => {
    const [payload, signature] = parts(valid);
    const bytes = Buffer.from(signature, 'base64url');
    for (const sig of [bytes.subarray(0, 63), Buffer.concat([bytes, Buffer.from([0])]), Buffer.alloc(0)]) {
      forbidden(() => checkGrant(controller.publicKey, `${payload}.${sig.toString('base64url')}`, { op: 'get', hash: H1, now: NOW }));
    }
  });

  it('a grant signed by another key: a node (or anyone without the controller key) cannot mint grants', () => {
    const minted = signGrant(other.privateKey, putGrant({ nodes: ['node-1'] }));
    forbidden(() => checkGrant(controller.publicKey, minted, { op: 'put', hash: H1, nodeId: 'node-1', now: NOW }));
    // …and the node's own key does not vouch for the controller's grants either.
    forbidden(() => checkGrant(other.publicKey, valid, { op: 'get', hash: H1, now: NOW }));
  });

  it('a payload edited under a valid signature (a longer expiry, an extra hash)', () => {
    const [, signature] = parts(valid);
    for (const edited of [getGrant({ exp: NOW + 365 * 86_400_000 }), getGrant({ hashes: [H1, H2, H3] })]) {
      const payload = Buffer.from(JSON.stringify(edited)).toString('base64url');
      forbidden(() => checkGrant(controller.publicKey, `${payload}.${signature}`, { op: 'get', hash: H3, now: NOW }));
    }
  });

  it('an expired grant, even with everything else right', () => {
    const expired = signGrant(controller.privateKey, getGrant({ exp: NOW - 1 }));
    forbidden(() => checkGrant(controller.publicKey, expired, { op: 'get', hash: H1, now: NOW }));
    const zero = signGrant(controller.privateKey, getGrant({ exp: 0 }));
    forbidden(() => checkGrant(controller.publicKey, zero, { op: 'get', hash: H1, now: NOW }));
  });

  it('a grant for the other operation (a read grant cannot write, a write grant cannot read)', () => {
    forbidden(() => checkGrant(controller.publicKey, valid, { op: 'put', hash: H1, nodeId: 'node-1', now: NOW }));
    const put = signGrant(controller.privateKey, putGrant());
    forbidden(() => checkGrant(controller.publicKey, put, { op: 'get', hash: H1, now: NOW }));
  });

  it('a hash the grant does not cover', () => {
    forbidden(() => checkGrant(controller.publicKey, valid, { op: 'get', hash: H3, now: NOW }));
    forbidden(() => checkGrant(controller.publicKey, valid, { op: 'get', hash: H1.toUpperCase(), now: NOW }));
    forbidden(() => checkGrant(controller.publicKey, valid, { op: 'get', hash: '', now: NOW }));
    const put = signGrant(controller.privateKey, putGrant());
    forbidden(() => checkGrant(controller.publicKey, put, { op: 'put', hash: H2, nodeId: 'node-1', now: NOW }));
  });

  it('a put grant shown to a node it does not name, or that names no node at all', () => {
    const put = signGrant(controller.privateKey, putGrant());
    forbidden(() => checkGrant(controller.publicKey, put, { op: 'put', hash: H1, nodeId: 'node-3', now: NOW }));
    forbidden(() => checkGrant(controller.publicKey, put, { op: 'put', hash: H1, nodeId: 'node-', now: NOW }));
    forbidden(() => checkGrant(controller.publicKey, put, { op: 'put', hash: H1, now: NOW }));
    for (const nodes of [undefined, []]) {
      const nobody = signGrant(controller.privateKey, putGrant({ nodes }));
      forbidden(() => checkGrant(controller.publicKey, nobody, { op: 'put', hash: H1, nodeId: 'node-1', now: NOW }));
    }
  });

  it.each([
    ['absent', undefined],
    ['empty', ''],
    ['no dot', 'abcdef'],
    ['only a dot', '.'],
    ['no payload', `.${'A'.repeat(86)}`],
    ['no signature', 'eyJvcCI6ImdldCJ9.'],
    ['garbage', 'not a grant at all'],
    ['JSON instead of base64url', '{"op":"get"}.sig'],
    ['a bearer token', 'cairn_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'],
    ['one byte over MAX_GRANT_BYTES', `${'A'.repeat(MAX_GRANT_BYTES - 87)}.${'A'.repeat(87)}`],
    ['far over MAX_GRANT_BYTES', 'A'.repeat(10 * MAX_GRANT_BYTES)],
  ])('a malformed or oversized grant (%s)', (_what, token) => {
    forbidden(() => checkGrant(controller.publicKey, token, { op: 'get', hash: H1, now: NOW }));
  });

  it.each([
    ['bytes that are not UTF-8 JSON', Buffer.from([0xff, 0xfe, 0x00])],
    ['JSON that is not an object', '[1,2,3]'],
    ['null', 'null'],
    ['an unknown operation', JSON.stringify({ op: 'delete', hashes: [H1], exp: NOW + 1 })],
    ['no hashes', JSON.stringify({ op: 'get', hashes: [], exp: NOW + 1 })],
    ['an uppercase hash', JSON.stringify({ op: 'get', hashes: [H1.toUpperCase()], exp: NOW + 1 })],
    ['more hashes than a page', JSON.stringify({ op: 'get', hashes: Array(MAX_PAGE + 1).fill(H1), exp: NOW + 1 })],
    ['more than 16 nodes', JSON.stringify({ op: 'put', hashes: [H1], nodes: Array(17).fill('node-1'), exp: NOW + 1 })],
    ['a string expiry', JSON.stringify({ op: 'get', hashes: [H1], exp: String(NOW + 1) })],
    ['a fractional expiry', JSON.stringify({ op: 'get', hashes: [H1], exp: NOW + 0.5 })],
    ['no expiry', JSON.stringify({ op: 'get', hashes: [H1] })],
  ])('a correctly signed payload that is no valid grant (%s)', (_what, payload) => {
    forbidden(() => checkGrant(controller.publicKey, handMade(payload), { op: 'get', hash: H1, now: NOW }));
  });

  it('a grant of the right shape signed over different bytes than it carries', () => {
    const carried = Buffer.from(JSON.stringify(getGrant()));
    const signature = sign(null, Buffer.from(JSON.stringify(getGrant({ hashes: [H3] }))), controller.privateKey);
    forbidden(() => checkGrant(controller.publicKey, handMade(carried, signature), { op: 'get', hash: H1, now: NOW }));
  });

  it('throws nothing but E_FORBIDDEN, whatever string it is given', () => {
    const tokens = fc.oneof(
      fc.string({ maxLength: 300 }),
      fc.string({ unit: 'binary', maxLength: 300 }),
      fc.tuple(fc.base64String({ maxLength: 200 }), fc.base64String({ maxLength: 120 })).map(([a, b]) => `${a}.${b}`),
      fc.tuple(fc.jsonValue(), fc.uint8Array({ minLength: 64, maxLength: 64 })).map(([v, sig]) =>
        handMade(JSON.stringify(v) ?? 'null', Buffer.from(sig)),
      ),
      fc.jsonValue().map((v) => handMade(JSON.stringify(v) ?? 'null')), // signed, but not a grant
    );
    fc.assert(
      fc.property(tokens, fc.constantFrom('get' as const, 'put' as const), (token, op) => {
        forbidden(() => checkGrant(controller.publicKey, token, { op, hash: H1, nodeId: 'node-1', now: NOW }));
      }),
      { numRuns: 300 },
    );
  });
});

// ---------------------------------------------------------------------------------------------------
// Mutations of a valid grant
// ---------------------------------------------------------------------------------------------------

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

type Mutation = { kind: 'replace' | 'insert' | 'delete'; at: number; char: string };

const mutation = fc.record({
  kind: fc.constantFrom('replace' as const, 'insert' as const, 'delete' as const),
  at: fc.nat(),
  char: fc.oneof(fc.constantFrom(...BASE64URL.split('')), fc.constantFrom('.', '=', '+', '/', ' ', '\n', '!', '~', '%'), fc.string({ minLength: 1, maxLength: 1, unit: 'binary' })),
});

function mutate(grant: string, { kind, at, char }: Mutation): string {
  const i = at % (grant.length + (kind === 'insert' ? 1 : 0));
  if (kind === 'insert') return grant.slice(0, i) + char + grant.slice(i);
  if (kind === 'delete') return grant.slice(0, i) + grant.slice(i + 1);
  return grant.slice(0, i) + char + grant.slice(i + 1);
}

/** The bytes a grant string stands for (payload, signature), as a lenient base64url reader sees them. */
function decodedParts(grant: string): string {
  const dot = grant.indexOf('.');
  return `${Buffer.from(grant.slice(0, dot), 'base64url').toString('hex')}.${Buffer.from(grant.slice(dot + 1), 'base64url').toString('hex')}`;
}

const grants = fc
  .record({
    op: fc.constantFrom('get' as const, 'put' as const),
    hashes: fc.array(fc.stringMatching(/^[0-9a-f]{64}$/), { minLength: 1, maxLength: 3 }),
  })
  .map(({ op, hashes }) => ({
    grant: signGrant(controller.privateKey, { op, hashes, nodes: op === 'put' ? ['node-1'] : undefined, exp: NOW + GRANT_TTL_MS }),
    want: { op, hash: hashes[0], nodeId: 'node-1', now: NOW },
  }));

describe('mutations of a valid grant', () => {
  it('no edit of the string yields a grant for different bytes: each is refused or decodes to the very same grant', () => {
    fc.assert(
      fc.property(grants, mutation, ({ grant, want }, m) => {
        const mutated = mutate(grant, m);
        fc.pre(mutated !== grant);
        let accepted: Grant | undefined;
        try {
          accepted = checkGrant(controller.publicKey, mutated, want);
        } catch (err) {
          expect((err as CairnError).code).toBe('E_FORBIDDEN');
          return;
        }
        // Accepted: then it must be a mere re-spelling of the original (see the known gap below).
        expect(decodedParts(mutated)).toBe(decodedParts(grant));
        expect(accepted).toEqual(checkGrant(controller.publicKey, grant, want));
      }),
      { numRuns: 500 },
    );
  });

  it('any change to the signed payload or signature bytes is refused', () => {
    fc.assert(
      fc.property(grants, fc.boolean(), fc.nat(), fc.integer({ min: 1, max: 255 }), ({ grant, want }, inPayload, at, xor) => {
        const [payload, signature] = parts(grant).map((p) => Buffer.from(p, 'base64url'));
        const target = inPayload ? payload : signature;
        target[at % target.length] ^= xor;
        const mutated = `${payload.toString('base64url')}.${signature.toString('base64url')}`;
        forbidden(() => checkGrant(controller.publicKey, mutated, want));
      }),
      { numRuns: 500 },
    );
  });

  // Buffer.from(…, 'base64url') alone skips characters outside the alphabet (spaces, newlines, '!', …),
  // reads '+' and '/' as '-' and '_', and ignores the unused low bits of the last character, so
  // re-spelled copies of a valid grant would pass as it. checkGrant accepts only the canonical
  // spelling, which is what lets GrantChecker key the grants it has verified by their string.
  it('refuses every re-spelling of a valid grant', () => {
    const grant = signGrant(controller.privateKey, getGrant());
    const want = { op: 'get' as const, hash: H1, now: NOW };
    const [payload, signature] = parts(grant);
    const last = BASE64URL.indexOf(signature[signature.length - 1]);
    const sameBits = BASE64URL[last ^ 0b0001]; // 64 bytes = 85 chars + 2 bits: the low 4 bits of the last are unused
    const respellings = [
      `${payload}.${signature.slice(0, -1)}${sameBits}`,
      `${payload.slice(0, 10)} ${payload.slice(10)}.${signature}`,
      `${payload}.${signature.slice(0, 20)}\n${signature.slice(20)}`,
      `${payload}.${signature}!`,
      grant.replace(/-/g, '+').replace(/_/g, '/'),
    ].filter((respelled) => respelled !== grant);
    const accepted = respellings.filter((respelled) => {
      try {
        checkGrant(controller.publicKey, respelled, want);
        return true;
      } catch {
        return false;
      }
    });
    expect(accepted).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------
// Batches: one signature for a prepare's grants (grant-batch.ts)
// ---------------------------------------------------------------------------------------------------

const prepared = (i: number, over: Partial<Grant> = {}): Grant => ({ op: 'put', bytes: 4096, nodes: ['node-1', 'node-2'], upload: `u-${i}`, exp: NOW + GRANT_TTL_MS, ...over });
const batchOf = (n: number) => Array.from({ length: n }, (_, i) => prepared(i));
const putUse = { op: 'put' as const, hash: H1, size: 100, nodeId: 'node-1', now: NOW };

describe('signGrantBatch → checkGrant', () => {
  it('gives each grant of the batch a string that checks out as that grant, and only that one', () => {
    for (const n of [2, 3, 32, 64]) {
      const strings = signGrantBatch(controller.privateKey, batchOf(n));
      expect(strings).toHaveLength(n);
      expect(new Set(strings.map((s) => parts(s)[1])).size).toBe(1); // one signature for all
      strings.forEach((s, i) => expect(checkGrant(controller.publicKey, s, putUse)).toEqual(prepared(i)));
    }
  });

  it('refuses to sign a batch that holds the same grant twice (one string must name one grant)', () => {
    expect(() => signGrantBatch(controller.privateKey, [prepared(0), prepared(1), prepared(0)])).toThrow(RangeError);
  });

  it('signs a batch of one as a plain grant', () => {
    const [only] = signGrantBatch(controller.privateKey, [prepared(0)]);
    expect(only.split('.')).toHaveLength(2);
    expect(checkGrant(controller.publicKey, only, putUse)).toEqual(prepared(0));
  });

  it("refuses a grant of one batch with another's path, signature or payload", () => {
    const strings = signGrantBatch(controller.privateKey, batchOf(4));
    const other = signGrantBatch(controller.privateKey, batchOf(4).map((g) => ({ ...g, exp: g.exp + 1 })));
    const [payload0, signature0, path0] = strings[0].split('.');
    const [payload1, , path1] = strings[1].split('.');
    forbidden(() => checkGrant(controller.publicKey, `${payload0}.${signature0}.${path1}`, putUse));
    forbidden(() => checkGrant(controller.publicKey, `${payload1}.${signature0}.${path0}`, putUse));
    forbidden(() => checkGrant(controller.publicKey, `${payload0}.${other[0].split('.')[1]}.${path0}`, putUse));
    // An edited payload (a bigger size, another upload) under the batch's signature and the right path.
    const edited = Buffer.from(JSON.stringify(prepared(0, { bytes: MAX_CHUNK_SIZE }))).toString('base64url');
    forbidden(() => checkGrant(controller.publicKey, `${edited}.${signature0}.${path0}`, putUse));
  });

  it('refuses a batch signed by another key, and keeps the two kinds of signature apart', () => {
    const forged = signGrantBatch(other.privateKey, batchOf(2));
    forbidden(() => checkGrant(controller.publicKey, forged[0], putUse));
    const [payload, signature] = signGrantBatch(controller.privateKey, batchOf(2))[0].split('.');
    // The batch's signature (over its root) does not make the payload a plain grant...
    forbidden(() => checkGrant(controller.publicKey, `${payload}.${signature}`, putUse));
    // ...nor does a plain grant's signature (over its payload) sign a batch.
    const plainSignature = parts(signGrant(controller.privateKey, prepared(0)))[1];
    const path = signGrantBatch(controller.privateKey, batchOf(2))[0].split('.')[2];
    forbidden(() => checkGrant(controller.publicKey, `${payload}.${plainSignature}.${path}`, putUse));
  });

  it('refuses a path of another depth, a wrong index, a sibling changed, or a fourth part', () => {
    const strings = signGrantBatch(controller.privateKey, batchOf(4));
    const [payload, signature, path] = strings[2].split('.');
    const bytes = Buffer.from(path, 'base64url');
    const respell = (b: Buffer) => `${payload}.${signature}.${b.toString('base64url')}`;
    const deeper = Buffer.concat([Buffer.from([bytes[0] + 1, bytes[1]]), bytes.subarray(2), Buffer.alloc(32)]);
    const shallower = Buffer.concat([Buffer.from([bytes[0] - 1, bytes[1] & 1]), bytes.subarray(2, 2 + 32)]);
    const index = Buffer.from(bytes);
    index[1] ^= 1;
    const sibling = Buffer.from(bytes);
    sibling[2 + 32] ^= 0x80;
    for (const bad of [deeper, shallower, index, sibling]) forbidden(() => checkGrant(controller.publicKey, respell(bad), putUse));
    forbidden(() => checkGrant(controller.publicKey, `${strings[2]}.${path}`, putUse));
  });

  it('refuses any change to the bytes of a batch grant (payload, signature or path)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 64 }), fc.nat(), fc.constantFrom(0, 1, 2), fc.nat(), fc.integer({ min: 1, max: 255 }), (n, pick, part, at, xor) => {
        const strings = signGrantBatch(controller.privateKey, batchOf(n));
        const bytes = strings[pick % n].split('.').map((p) => Buffer.from(p, 'base64url'));
        bytes[part][at % bytes[part].length] ^= xor;
        forbidden(() => checkGrant(controller.publicKey, bytes.map((b) => b.toString('base64url')).join('.'), putUse));
      }),
      { numRuns: 300 },
    );
  });

  it('refuses re-spellings of a batch grant', () => {
    const grant = signGrantBatch(controller.privateKey, batchOf(3))[1];
    const respellings = [`${grant} `, grant.replace('.', '..'), grant.replace(/-/g, '+').replace(/_/g, '/'), `${grant.slice(0, 20)}\n${grant.slice(20)}`].filter((r) => r !== grant);
    for (const respelled of respellings) forbidden(() => checkGrant(controller.publicKey, respelled, putUse));
  });
});
