import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Client tokens: `cairn_<id>_<secret>`. The id (public) finds the record; the secret (256 random bits)
 * is stored only as its SHA-256 and compared in constant time. Scopes nest: read ⊂ write ⊂ admin.
 */
export const TOKEN_SCOPES = ['read', 'write', 'admin'] as const;
export type TokenScope = (typeof TOKEN_SCOPES)[number];

const TOKEN_ID = '[0-9a-f]{16}';
const TOKEN_PATTERN = new RegExp(`^cairn_(${TOKEN_ID})_([A-Za-z0-9_-]{43})$`);
const TOKEN_ID_PATTERN = new RegExp(`^${TOKEN_ID}$`);

export function mintToken(): { id: string; token: string; secretHash: string } {
  const id = randomBytes(8).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  return { id, token: `cairn_${id}_${secret}`, secretHash: hashSecret(secret) };
}

export function parseToken(token: string): { id: string; secret: string } | undefined {
  const match = TOKEN_PATTERN.exec(token);
  return match ? { id: match[1], secret: match[2] } : undefined;
}

/** Whether `value` is a token's public id, as minted (16 lowercase hex digits; `token list` shows them). */
export function isTokenId(value: string): boolean {
  return TOKEN_ID_PATTERN.test(value);
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** Constant-time check of a presented secret against a stored hash. */
export function secretMatches(secret: string, storedHash: string): boolean {
  const presented = Buffer.from(hashSecret(secret), 'hex');
  const stored = Buffer.from(storedHash, 'hex');
  return stored.length === presented.length && timingSafeEqual(presented, stored);
}

export function scopeAllows(have: TokenScope, need: TokenScope): boolean {
  return TOKEN_SCOPES.indexOf(have) >= TOKEN_SCOPES.indexOf(need);
}
