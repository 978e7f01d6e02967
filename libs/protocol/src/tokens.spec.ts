import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { MESSAGES } from './messages';
import { hashSecret, isTokenId, mintToken, parseToken, scopeAllows, secretMatches, TOKEN_SCOPES, TokenScope } from './tokens';

fc.configureGlobal({ interruptAfterTimeLimit: 4_000, markInterruptAsFailure: true });

describe('mintToken and parseToken', () => {
  it('mints cairn_<16 hex id>_<43 base64url secret>, which parses back to its id and secret', () => {
    const { id, token, secretHash } = mintToken();
    expect(token).toMatch(/^cairn_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    const parsed = parseToken(token);
    expect(parsed).toBeDefined();
    expect(parsed?.id).toBe(id);
    expect(token).toBe(`cairn_${id}_${parsed?.secret}`);
    expect(secretHash).toBe(hashSecret(parsed?.secret ?? ''));
  });

  it('never stores the secret itself: the record keeps its SHA-256 only', () => {
    const { token, secretHash } = mintToken();
    const secret = parseToken(token)?.secret ?? '';
    expect(secretHash).toMatch(/^[0-9a-f]{64}$/);
    expect(secretHash).not.toContain(secret);
    expect(secretHash).toBe(createHash('sha256').update(secret, 'utf8').digest('hex'));
  });

  it('fits session.auth and token.created on the wire', () => {
    const { id, token } = mintToken();
    expect(MESSAGES['session.auth'].body.safeParse({ token }).success).toBe(true);
    expect(MESSAGES['token.created'].body.safeParse({ id, token }).success).toBe(true);
  });

  it('carries at least 128 bits of randomness: the secret is 32 random bytes, canonical base64url', () => {
    const { token } = mintToken();
    const secret = parseToken(token)?.secret ?? '';
    const bytes = Buffer.from(secret, 'base64url');
    expect(bytes.length * 8).toBeGreaterThanOrEqual(128);
    expect(bytes).toHaveLength(32);
    expect(bytes.toString('base64url')).toBe(secret);
  });

  it('mints distinct ids and secrets, with every secret bit varying (no fixed or derived bits)', () => {
    const N = 1_000;
    const minted = Array.from({ length: N }, () => mintToken());
    const parsed = minted.map((m) => parseToken(m.token) as { id: string; secret: string });
    expect(new Set(parsed.map((p) => p.id)).size).toBe(N);
    expect(new Set(parsed.map((p) => p.secret)).size).toBe(N);
    expect(new Set(minted.map((m) => m.secretHash)).size).toBe(N);

    // Each of the 256 secret bits is set in about half the tokens (binomial: mean 500, sd ≈ 16; ±100 is > 6 sd).
    const ones = new Array<number>(256).fill(0);
    for (const { secret } of parsed) {
      const bytes = Buffer.from(secret, 'base64url');
      for (let bit = 0; bit < 256; bit++) ones[bit] += (bytes[bit >> 3] >> (7 - (bit & 7))) & 1;
    }
    for (const count of ones) {
      expect(count).toBeGreaterThan(N / 2 - 100);
      expect(count).toBeLessThan(N / 2 + 100);
    }
  });

  it('parses any string of the exact shape and nothing else', () => {
    const shaped = fc.tuple(fc.stringMatching(/^[0-9a-f]{16}$/), fc.stringMatching(/^[A-Za-z0-9_-]{43}$/));
    fc.assert(
      fc.property(shaped, ([id, secret]) => {
        expect(parseToken(`cairn_${id}_${secret}`)).toEqual({ id, secret });
      }),
      { numRuns: 200 },
    );
  });

  // A fixed id with letters and digits, so case and digit lookalikes below really differ from it.
  const id = '0123456789abcdef';
  const secret = (parseToken(mintToken().token) as { secret: string }).secret;
  const valid = `cairn_${id}_${secret}`;

  it('parses the token the lookalikes below imitate', () => {
    expect(parseToken(valid)).toEqual({ id, secret });
  });

  it.each([
    ['empty', ''],
    ['the prefix alone', 'cairn_'],
    ['another prefix', `cairm_${id}_${secret}`],
    ['a capitalised prefix', `Cairn_${id}_${secret}`],
    ['an uppercase prefix', `CAIRN_${id}_${secret}`],
    ['a Cyrillic а in the prefix', `c\u0430irn_${id}_${secret}`],
    ['a dash instead of the first underscore', `cairn-${id}_${secret}`],
    ['a dash instead of the second underscore', `cairn_${id}-${secret}`],
    ['an uppercase id', `cairn_${id.toUpperCase()}_${secret}`],
    ['a 15-digit id', `cairn_${id.slice(1)}_${secret}`],
    ['a 17-digit id', `cairn_${id}0_${secret}`],
    ['a non-hex id', `cairn_${'g'.repeat(16)}_${secret}`],
    ['a 42-character secret', `cairn_${id}_${secret.slice(1)}`],
    ['a 44-character secret', `cairn_${id}_${secret}A`],
    ['a padded secret', `cairn_${id}_${secret}=`],
    ['a standard-base64 secret', `cairn_${id}_${'+/'.repeat(21)}A`],
    ['a secret with a space', `cairn_${id}_${secret.slice(0, 20)} ${secret.slice(21)}`],
    ['a leading space', ` ${valid}`],
    ['a trailing space', `${valid} `],
    ['a trailing newline', `${valid}\n`],
    ['a leading newline', `\n${valid}`],
    ['a Bearer prefix', `Bearer ${valid}`],
    ['two tokens', `${valid}${valid}`],
    ['a fullwidth digit in the id', `cairn_${id.slice(0, 15)}\uFF10_${secret}`],
    ['a zero-width space', `cairn_${id}\u200B_${secret}`],
  ])('refuses a lookalike: %s', (_what, token) => {
    expect(token).not.toBe(valid);
    expect(parseToken(token)).toBeUndefined();
  });
});

describe('isTokenId', () => {
  it('accepts every minted id and nothing else of its shape', () => {
    for (let i = 0; i < 20; i++) expect(isTokenId(mintToken().id)).toBe(true);
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (value) => {
        expect(isTokenId(value)).toBe(/^[0-9a-f]{16}$/.test(value));
      }),
    );
    for (const bad of ['', '3F2A9C0E11D4B5A6', '3f2a9c0e11d4b5a', '3f2a9c0e11d4b5a6\n', mintToken().token]) expect(isTokenId(bad)).toBe(false);
  });
});

describe('hashSecret and secretMatches', () => {
  it('hashSecret is the SHA-256 of the UTF-8 secret, in hex', () => {
    expect(hashSecret('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(hashSecret('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });

  it('matches the secret of a minted token against its stored hash', () => {
    const { token, secretHash } = mintToken();
    expect(secretMatches(parseToken(token)?.secret ?? '', secretHash)).toBe(true);
  });

  it('refuses any other secret: one character changed, truncated, extended, another token’s', () => {
    const { token, secretHash } = mintToken();
    const secret = parseToken(token)?.secret ?? '';
    const flip = secret[5] === 'A' ? 'B' : 'A';
    for (const other of [
      secret.slice(0, 5) + flip + secret.slice(6),
      secret.slice(0, -1),
      `${secret}A`,
      '',
      parseToken(mintToken().token)?.secret ?? '',
      secretHash, // the hash is not a password
    ]) {
      expect(secretMatches(other, secretHash)).toBe(false);
    }
  });

  it('is false, without throwing, for a stored hash of the wrong shape', () => {
    const secret = 'whatever';
    for (const stored of ['', 'abc', hashSecret(secret).slice(0, 62), `${hashSecret(secret)}00`, 'not hex']) {
      expect(secretMatches(secret, stored)).toBe(false);
    }
  });

  it('agrees with comparing hashes, for any secrets', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), fc.string({ maxLength: 60 }), (a, b) => {
        expect(secretMatches(a, hashSecret(b))).toBe(hashSecret(a) === hashSecret(b));
        expect(secretMatches(a, hashSecret(a))).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});

describe('scopes', () => {
  it('are read < write < admin, the same set the wire accepts', () => {
    expect([...TOKEN_SCOPES]).toEqual(['read', 'write', 'admin']);
    expect(MESSAGES['session.info'].body.shape.scope.options).toEqual([...TOKEN_SCOPES]);
    expect(MESSAGES['token.create'].body.shape.scope.options).toEqual([...TOKEN_SCOPES]);
  });

  it.each([
    ['read', 'read', true],
    ['read', 'write', false],
    ['read', 'admin', false],
    ['write', 'read', true],
    ['write', 'write', true],
    ['write', 'admin', false],
    ['admin', 'read', true],
    ['admin', 'write', true],
    ['admin', 'admin', true],
  ] as Array<[TokenScope, TokenScope, boolean]>)('%s token, %s needed: allowed = %p', (have, need, allowed) => {
    expect(scopeAllows(have, need)).toBe(allowed);
  });

  it('nest: whatever a scope allows, every higher scope allows too', () => {
    for (const need of TOKEN_SCOPES) {
      for (let i = 0; i < TOKEN_SCOPES.length; i++) {
        if (!scopeAllows(TOKEN_SCOPES[i], need)) continue;
        for (const higher of TOKEN_SCOPES.slice(i)) expect(scopeAllows(higher, need)).toBe(true);
      }
    }
  });
});
