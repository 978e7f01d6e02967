import fc from 'fast-check';
import { claimProof, claimProofMatches } from './claims';

describe('chunk claim proofs', () => {
  it('match only the same bytes under the same grant', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), fc.uint8Array(), fc.uint8Array(), fc.string({ minLength: 1 }), (grant, data, other, otherGrant) => {
        const proof = claimProof(grant, data);
        expect(claimProofMatches(grant, data, proof)).toBe(true);
        if (!Buffer.from(other).equals(Buffer.from(data))) expect(claimProofMatches(grant, other, proof)).toBe(false);
        if (otherGrant !== grant) expect(claimProofMatches(otherGrant, data, proof)).toBe(false);
      }),
    );
  });

  it('treats a malformed proof as no match', () => {
    const data = Buffer.from('chunk');
    for (const proof of ['', 'zz', 'ab'.repeat(31), claimProof('g', data).slice(0, 62)]) {
      expect(claimProofMatches('g', data, proof)).toBe(false);
    }
  });
});
