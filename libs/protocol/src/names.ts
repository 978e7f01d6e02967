import { CairnError } from './errors';
import { MAX_NAME_BYTES } from './limits';

/**
 * File names are logical paths ("photos/2024/a.jpg"), validated here once for every peer. They are
 * keys in the catalog and never become file-system paths, but we still refuse the shapes that would be
 * dangerous if anyone ever did (traversal, absolute paths, NUL), and the ones that are ambiguous.
 */
export function validateName(name: unknown): string {
  if (typeof name !== 'string') throw invalid('a name must be a string');
  if (name.length === 0) throw invalid('a name must not be empty');
  if (Buffer.byteLength(name, 'utf8') > MAX_NAME_BYTES) {
    throw invalid(`a name must be at most ${MAX_NAME_BYTES} bytes of UTF-8`);
  }
  if (!isWellFormedUtf16(name)) throw invalid('a name must be valid UTF-8 (no lone surrogates)');
  if (name.includes('\0')) throw invalid('a name must not contain NUL');
  if (name.startsWith('/')) throw invalid('a name must not start with "/"');
  for (const segment of name.split('/')) {
    if (segment === '') throw invalid(`"${printable(name)}" has an empty segment`);
    if (segment === '.' || segment === '..') {
      throw invalid(`"${printable(name)}" has a "${segment}" segment`);
    }
  }
  return name;
}

/**
 * A listing prefix is any string a name could start with (empty, or ending mid-segment), so only the
 * rules of the `file.list` and `token.create` schemas are checked (a string, no NUL, at most 4096
 * characters), before sending, so that a bad prefix is the caller's E_NAME_INVALID.
 */
export function validatePrefix(prefix: unknown): string {
  if (typeof prefix !== 'string') throw invalid('a prefix must be a string');
  if (prefix.length > MAX_NAME_BYTES * 4) throw invalid(`a prefix must be at most ${MAX_NAME_BYTES * 4} characters`);
  if (prefix.includes('\0')) throw invalid('a prefix must not contain NUL');
  return prefix;
}

/**
 * A token's prefix: a start that some valid name can have, and not an empty one. An empty prefix
 * would limit nothing (a script passing an unset variable would mint a token for every name), and a
 * prefix no name can start with (`/abs`, `a/../`, longer than any name) would mint a token that can do
 * nothing. A prefix passes when it is a valid name, or would be one with a character more: its last
 * segment may be unfinished (`photos/`, `photos/.`, `photos/2024-`).
 */
export function validateTokenPrefix(prefix: unknown): string {
  const text = validatePrefix(prefix);
  if (text.length === 0) throw invalid('a token prefix must not be empty (leave it out for a token of every name)');
  const lastSegment = text.slice(text.lastIndexOf('/') + 1);
  const shortestName = lastSegment === '' || lastSegment === '.' || lastSegment === '..' ? `${text}x` : text;
  try {
    validateName(shortestName);
  } catch (err) {
    throw invalid(`no name can start with "${printable(text)}" (${(err as Error).message}), so a token limited to it could do nothing`);
  }
  return text;
}

/** Checks raw bytes are valid UTF-8 and returns the decoded name (for names read off a wire or disk). */
export function decodeName(bytes: Uint8Array): string {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw invalid('a name must be valid UTF-8');
  }
  return validateName(text);
}

export function isValidName(name: unknown): name is string {
  try {
    validateName(name);
    return true;
  } catch {
    return false;
  }
}

function invalid(message: string): CairnError {
  return new CairnError('E_NAME_INVALID', message);
}

function isWellFormedUtf16(text: string): boolean {
  // A lone surrogate cannot be encoded as UTF-8; Buffer would silently turn it into U+FFFD.
  return !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(text);
}

function printable(name: string): string {
  // eslint-disable-next-line no-control-regex -- control characters are exactly what we mask here
  return name.replace(/[\u0000-\u001f]/g, '?');
}
