import { createHmac, randomBytes, scryptSync } from 'node:crypto';
import fc from 'fast-check';
import { clusterKey, controllerProof, HandshakeTranscript, NONCE_BYTES, nodeProof, proofsEqual } from './handshake';
import { MESSAGES } from './messages';

fc.configureGlobal({ interruptAfterTimeLimit: 4_000, markInterruptAsFailure: true });

const SECRET = 'correct horse battery staple';
const nonce = () => randomBytes(NONCE_BYTES).toString('hex');

const transcript: HandshakeTranscript = {
  nodeId: 'node-1',
  nodeNonce: 'a'.repeat(2 * NONCE_BYTES),
  controllerNonce: 'b'.repeat(2 * NONCE_BYTES),
  grantPublicKey: '-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA…\n-----END PUBLIC KEY-----\n',
};

const FIELDS = ['nodeId', 'nodeNonce', 'controllerNonce', 'grantPublicKey'] as const;

/**
 * The MAC written out independently of handshake.ts (HMAC-SHA256, keyed with the secret stretched by
 * scrypt, over u32-length-prefixed UTF-8 fields), so a change to the wire format has to be deliberate.
 */
function referenceMac(secret: string, parts: string[]): string {
  const key = scryptSync(secret, 'cairn/1 cluster key', 32, { N: 32768, r: 8, p: 1, maxmem: 64 * 1024 * 1024 });
  const hmac = createHmac('sha256', key);
  for (const part of parts) {
    const bytes = Buffer.from(part, 'utf8');
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    hmac.update(length).update(bytes);
  }
  return hmac.digest('hex');
}

const arbTranscript: fc.Arbitrary<HandshakeTranscript> = fc.record({
  nodeId: fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/),
  nodeNonce: fc.stringMatching(/^[0-9a-f]{64}$/),
  controllerNonce: fc.stringMatching(/^[0-9a-f]{64}$/),
  grantPublicKey: fc.string({ maxLength: 200 }),
});

describe('clusterKey', () => {
  it('stretches the secret with scrypt, so that a proof seen does not let the secret be guessed at HMAC speed', () => {
    expect(clusterKey(SECRET)).toEqual(scryptSync(SECRET, 'cairn/1 cluster key', 32, { N: 32768, r: 8, p: 1, maxmem: 64 * 1024 * 1024 }));
    expect(clusterKey(SECRET)).not.toEqual(createHmac('sha256', SECRET).digest());
    expect(clusterKey(`${SECRET}!`)).not.toEqual(clusterKey(SECRET));
  });

  it('derives a key once per secret, however many MACs use it', () => {
    const first = clusterKey('another secret of some length');
    expect(clusterKey('another secret of some length')).toBe(first); // the same Buffer: not derived again
  });
});

describe('controllerProof and nodeProof', () => {
  it('are 64 lowercase hex digits, as node.register and node.challenge carry them', () => {
    for (const proof of [controllerProof(SECRET, transcript), nodeProof(SECRET, transcript)]) {
      expect(proof).toMatch(/^[0-9a-f]{64}$/);
    }
    const challenge = { nonce: transcript.controllerNonce, proof: controllerProof(SECRET, transcript), grantPublicKey: 'k' };
    expect(MESSAGES['node.challenge'].body.safeParse(challenge).success).toBe(true);
  });

  it('NONCE_BYTES gives nonces of 256 bits that fit the wire schema', () => {
    expect(NONCE_BYTES).toBe(32);
    expect(MESSAGES['node.hello'].body.safeParse({ nodeId: 'n1', nonce: nonce() }).success).toBe(true);
  });

  it('are deterministic: both sides compute the same proof from the same transcript and secret', () => {
    expect(controllerProof(SECRET, { ...transcript })).toBe(controllerProof(SECRET, transcript));
    expect(nodeProof(SECRET, { ...transcript })).toBe(nodeProof(SECRET, transcript));
  });

  it('pin the wire format: HMAC-SHA256 of a role label and the four fields, each u32-length-prefixed', () => {
    const fields = [transcript.nodeId, transcript.nodeNonce, transcript.controllerNonce, transcript.grantPublicKey];
    expect(controllerProof(SECRET, transcript)).toBe(referenceMac(SECRET, ['cairn/1 controller', ...fields]));
    expect(nodeProof(SECRET, transcript)).toBe(referenceMac(SECRET, ['cairn/1 node', ...fields]));
  });

  it('differ by role, so a proof cannot be reflected back to the side that sent it', () => {
    fc.assert(
      fc.property(arbTranscript, (t) => {
        expect(controllerProof(SECRET, t)).not.toBe(nodeProof(SECRET, t));
      }),
      { numRuns: 200 },
    );
  });

  it.each(FIELDS)('change when %s changes', (field) => {
    const changed = { ...transcript, [field]: field.endsWith('Nonce') ? 'c'.repeat(64) : `${transcript[field]}x` };
    expect(controllerProof(SECRET, changed)).not.toBe(controllerProof(SECRET, transcript));
    expect(nodeProof(SECRET, changed)).not.toBe(nodeProof(SECRET, transcript));
  });

  it('change with any single field, for any transcript', () => {
    fc.assert(
      fc.property(arbTranscript, fc.constantFrom(...FIELDS), fc.string({ minLength: 1, maxLength: 8 }), (t, field, extra) => {
        const changed = { ...t, [field]: t[field] + extra };
        expect(controllerProof(SECRET, changed)).not.toBe(controllerProof(SECRET, t));
        expect(nodeProof(SECRET, changed)).not.toBe(nodeProof(SECRET, t));
      }),
      { numRuns: 200 },
    );
  });

  it('change when the two nonces swap places (a replayed exchange with roles reversed)', () => {
    const swapped = { ...transcript, nodeNonce: transcript.controllerNonce, controllerNonce: transcript.nodeNonce };
    expect(nodeProof(SECRET, swapped)).not.toBe(nodeProof(SECRET, transcript));
    expect(controllerProof(SECRET, swapped)).not.toBe(controllerProof(SECRET, transcript));
  });

  it('change with the secret (one character, a prefix, an empty secret)', () => {
    for (const secret of [`${SECRET}!`, SECRET.slice(0, -1), 'Correct horse battery staple', '']) {
      expect(controllerProof(secret, transcript)).not.toBe(controllerProof(SECRET, transcript));
      expect(nodeProof(secret, transcript)).not.toBe(nodeProof(SECRET, transcript));
    }
  });

  it('depend on the whole UTF-8 of each field (non-ASCII node ids and keys)', () => {
    const a = { ...transcript, grantPublicKey: 'clé' };
    const b = { ...transcript, grantPublicKey: 'cle\u0301' }; // same text, another normalisation
    expect(nodeProof(SECRET, a)).not.toBe(nodeProof(SECRET, b));
  });
});

describe('length prefixing', () => {
  // Without the prefixes these transcripts concatenate to the same bytes.
  const shifts: Array<[string, HandshakeTranscript, HandshakeTranscript]> = [
    ['nodeId ↔ nodeNonce', { ...transcript, nodeId: 'node-1a', nodeNonce: 'a'.repeat(63) }, transcript],
    ['nodeNonce ↔ controllerNonce', { ...transcript, nodeNonce: `${'a'.repeat(64)}b`, controllerNonce: 'b'.repeat(63) }, transcript],
    ['controllerNonce ↔ grantPublicKey', { ...transcript, controllerNonce: 'b'.repeat(60), grantPublicKey: `bbbb${transcript.grantPublicKey}` }, transcript],
  ];

  it.each(shifts)('keeps a boundary shift (%s) from colliding', (_what, shifted, original) => {
    const concat = (t: HandshakeTranscript) => t.nodeId + t.nodeNonce + t.controllerNonce + t.grantPublicKey;
    expect(concat(shifted)).toBe(concat(original)); // a naive MAC over the concatenation would collide
    expect(nodeProof(SECRET, shifted)).not.toBe(nodeProof(SECRET, original));
    expect(controllerProof(SECRET, shifted)).not.toBe(controllerProof(SECRET, original));
  });

  it('keeps any boundary shift between adjacent fields from colliding', () => {
    const pair = fc.tuple(fc.string({ maxLength: 20 }), fc.string({ maxLength: 20 }), fc.string({ minLength: 1, maxLength: 5 }));
    fc.assert(
      fc.property(arbTranscript, fc.integer({ min: 0, max: 2 }), pair, (t, boundary, [left, right, moved]) => {
        const a = FIELDS[boundary];
        const b = FIELDS[boundary + 1];
        const one = { ...t, [a]: left + moved, [b]: right };
        const two = { ...t, [a]: left, [b]: moved + right };
        expect(nodeProof(SECRET, one)).not.toBe(nodeProof(SECRET, two));
        expect(controllerProof(SECRET, one)).not.toBe(controllerProof(SECRET, two));
      }),
      { numRuns: 300 },
    );
  });
});

describe('proofsEqual', () => {
  const proof = nodeProof(SECRET, transcript);

  it('is true for the same proof (also from another string instance)', () => {
    expect(proofsEqual(proof, proof)).toBe(true);
    expect(proofsEqual(proof, nodeProof(SECRET, { ...transcript }))).toBe(true);
  });

  it('is false for a different proof, down to one bit in the last byte', () => {
    expect(proofsEqual(proof, controllerProof(SECRET, transcript))).toBe(false);
    const lastBit = proof.slice(0, -1) + (parseInt(proof.slice(-1), 16) ^ 1).toString(16);
    expect(proofsEqual(proof, lastBit)).toBe(false);
    const firstBit = (parseInt(proof[0], 16) ^ 8).toString(16) + proof.slice(1);
    expect(proofsEqual(firstBit, proof)).toBe(false);
  });

  it('is false, without throwing, for proofs of different lengths (a truncated proof is no proof)', () => {
    expect(proofsEqual(proof, proof.slice(0, 62))).toBe(false);
    expect(proofsEqual(proof.slice(0, 2), proof)).toBe(false);
    expect(proofsEqual(proof, `${proof}00`)).toBe(false);
  });

  it('is false for empty or non-hex input on either side', () => {
    expect(proofsEqual('', '')).toBe(false);
    expect(proofsEqual(proof, '')).toBe(false);
    expect(proofsEqual('', proof)).toBe(false);
    expect(proofsEqual('zz', 'zz')).toBe(false);
    expect(proofsEqual('not hex at all', 'not hex at all')).toBe(false);
  });

  it('agrees with string equality on any pair of 64-hex proofs', () => {
    const hex = fc.stringMatching(/^[0-9a-f]{64}$/);
    fc.assert(
      fc.property(hex, hex, (a, b) => {
        expect(proofsEqual(a, b)).toBe(a === b);
        expect(proofsEqual(a, a)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  // KNOWN GAP (reported): proofsEqual parses with Buffer.from(x, 'hex'), which stops at the first
  // non-hex character or odd trailing digit, so a proof followed by junk compares equal to the proof.
  // Harmless on the wire today (the node.register/node.challenge schemas only let 64 lowercase hex
  // through), but the helper itself should not say so. Remove `.failing` once it checks its input.
  it('is false for a proof followed by junk', () => {
    expect(proofsEqual(`${proof}zz`, proof)).toBe(false);
    expect(proofsEqual(`${proof}0`, proof)).toBe(false);
  });
});
