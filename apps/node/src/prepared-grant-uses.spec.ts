import type { Grant } from '@cairn/protocol';
import { PreparedGrantUses } from './prepared-grant-uses';

const H1 = 'ab'.repeat(32);
const H2 = 'cd'.repeat(32);
const grant = (upload: string | undefined, exp: number): Grant => ({ op: 'put', bytes: 4096, nodes: ['n1'], upload, exp });

describe('PreparedGrantUses', () => {
  it("lets a prepared upload's grant store one chunk, again and again, and no other", () => {
    const uses = new PreparedGrantUses();
    uses.admit(grant('u1', 1_000), H1, 10);
    uses.admit(grant('u1', 1_000), H1, 20); // a retry of the same chunk
    expect(() => uses.admit(grant('u1', 1_000), H2, 30)).toThrow(expect.objectContaining({ code: 'E_FORBIDDEN' }));
    uses.admit(grant('u2', 1_000), H2, 40); // another upload's grant is its own
    expect(uses.size).toBe(2);
  });

  it('refuses a grant naming no chunk that names no upload either', () => {
    expect(() => new PreparedGrantUses().admit(grant(undefined, 1_000), H1, 10)).toThrow(expect.objectContaining({ code: 'E_FORBIDDEN' }));
  });

  it('forgets a use once its grant has expired (the grant itself is refused from then on)', () => {
    const uses = new PreparedGrantUses();
    uses.admit(grant('u1', 100), H1, 10);
    uses.admit(grant('u2', 200), H1, 20);
    uses.admit(grant('u3', 300), H2, 150);
    expect(uses.size).toBe(2); // u1 went
    uses.admit(grant('u4', 400), H2, 350);
    expect(uses.size).toBe(1);
  });

  it('says which chunks the grants of some uploads stored here, while their grants live', () => {
    const uses = new PreparedGrantUses();
    uses.admit(grant('u1', 1_000), H1, 10);
    uses.admit(grant('u2', 1_000), H2, 10);
    uses.admit(grant('u3', 1_000), H2, 10);
    expect(uses.chunksOf(['u1', 'unknown'], 20)).toEqual([H1]);
    expect(uses.chunksOf(['u2', 'u3'], 20)).toEqual([H2]); // each chunk once
    expect(uses.chunksOf([], 20)).toEqual([]);
    expect(uses.chunksOf(['u1', 'u2'], 2_000)).toEqual([]); // expired with their grants
  });
});
