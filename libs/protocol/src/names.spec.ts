import fc from 'fast-check';
import { CairnError } from './errors';
import { MAX_NAME_BYTES } from './limits';
import { decodeName, isValidName, validateName, validatePrefix, validateTokenPrefix } from './names';
import { namePrefix } from './schemas';

// A failing property must report quickly: stop generating and shrinking after 4 s and fail anyway
// (fc.assert is synchronous, so Jest's own timeout could not interrupt it).
fc.configureGlobal({ interruptAfterTimeLimit: 4_000, markInterruptAsFailure: true });

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

const bytes = (s: string) => Buffer.byteLength(s, 'utf8');

describe('validateName', () => {
  describe('accepts logical paths', () => {
    it.each([
      ['a plain name', 'test.txt'],
      ['a nested path', 'photos/2024/a.jpg'],
      ['spaces', 'my documents/annual report 2024.pdf'],
      ['UTF-8 beyond ASCII', 'fotos/año/été/日本語/😀.png'],
      ['dots inside a segment', '..hidden/a..b/.config/x.'],
      ['a segment of three dots', '.../x'],
      ['backslashes (not separators here)', 'a\\b'],
      ['1024 ASCII bytes', 'a'.repeat(MAX_NAME_BYTES)],
      ['1024 bytes of 2-byte characters', 'é'.repeat(MAX_NAME_BYTES / 2)],
      ['1024 bytes of 4-byte characters', '😀'.repeat(MAX_NAME_BYTES / 4)],
      ['1024 bytes of 3-byte characters plus one', '€'.repeat(341) + 'a'],
      ['1024 bytes across segments', ['a'.repeat(511), 'b'.repeat(512)].join('/')],
    ])('%s', (_what, name) => {
      expect(bytes(name)).toBeLessThanOrEqual(MAX_NAME_BYTES);
      expect(validateName(name)).toBe(name);
      expect(isValidName(name)).toBe(true);
    });
  });

  describe('refuses with E_NAME_INVALID', () => {
    it.each([
      ['empty', ''],
      ['an absolute path', '/abs'],
      ['a bare slash', '/'],
      ['a leading ..', '../x'],
      ['a bare ..', '..'],
      ['a bare .', '.'],
      ['.. in the middle', 'a/../b'],
      ['.. at the end', 'a/..'],
      ['an empty segment', 'a//b'],
      ['a leading .', './a'],
      ['a trailing .', 'a/.'],
      ['a trailing /', 'a/'],
      ['a NUL', 'a\0b'],
      ['a NUL alone', '\0'],
      ['1025 ASCII bytes', 'a'.repeat(MAX_NAME_BYTES + 1)],
      ['1026 bytes in 513 characters', 'é'.repeat(513)],
      ['1025 bytes with 4-byte characters', '😀'.repeat(256) + 'a'],
      ['a lone high surrogate', 'a\uD800b'],
      ['a lone high surrogate at the end', 'photo\uDBFF'],
      ['a lone low surrogate', '\uDC00x'],
      ['surrogates in the wrong order', '\uDE00\uD83D'],
    ])('%s', (_what, name) => {
      expect(refusal(() => validateName(name)).code).toBe('E_NAME_INVALID');
      expect(isValidName(name)).toBe(false);
    });

    it.each([[undefined], [null], [42], [['a']], [{ name: 'a' }], [Buffer.from('a')]])('a non-string: %p', (value) => {
      expect(refusal(() => validateName(value)).code).toBe('E_NAME_INVALID');
      expect(isValidName(value)).toBe(false);
    });
  });
});

describe('decodeName', () => {
  it('returns the name of valid UTF-8 bytes', () => {
    for (const name of ['photos/2024/a.jpg', 'fotos/año/😀.png', 'a'.repeat(MAX_NAME_BYTES)]) {
      expect(decodeName(Buffer.from(name, 'utf8'))).toBe(name);
    }
  });

  it.each([
    ['a lone continuation byte', [0x61, 0x80]],
    ['a stray 0xff', [0xff]],
    ['a truncated 2-byte sequence', [0x61, 0xc3]],
    ['a truncated 4-byte sequence', [0xf0, 0x9f, 0x98]],
    ['an overlong "/"', [0xc0, 0xaf]],
    ['an overlong "."', [0xe0, 0x80, 0xae]],
    ['an encoded surrogate (CESU-8)', [0xed, 0xa0, 0x80]],
    ['a code point above U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
  ])('refuses invalid UTF-8 (%s) with E_NAME_INVALID', (_what, raw) => {
    expect(refusal(() => decodeName(Uint8Array.from(raw))).code).toBe('E_NAME_INVALID');
  });

  it('refuses valid UTF-8 that is not a valid name', () => {
    for (const name of ['', '../x', 'a//b', 'a\0b', 'x'.repeat(MAX_NAME_BYTES + 1)]) {
      expect(refusal(() => decodeName(Buffer.from(name, 'utf8'))).code).toBe('E_NAME_INVALID');
    }
  });
});

describe('name properties', () => {
  // Strings built to hit the interesting shapes often: separators, dots, NUL, surrogate halves,
  // multi-byte characters, long runs; plus plain arbitrary code points (lone surrogates included).
  const anyCodePoint = fc.integer({ min: 0, max: 0x10ffff }).map((cp) => String.fromCodePoint(cp));
  const tricky = fc.constantFrom('/', '.', '..', '\0', 'a', 'é', '😀', '\uD83D', '\uDE00', ' ', 'a'.repeat(300));
  const candidate = fc.oneof(
    fc.string({ unit: fc.oneof(tricky, anyCodePoint), maxLength: 40 }),
    fc.string({ unit: 'grapheme', maxLength: 60 }),
    fc.array(fc.string({ unit: fc.oneof(tricky, fc.constantFrom('b', 'c')), maxLength: 6 }), { maxLength: 6 }).map((s) => s.join('/')),
  );

  it('validatePrefix accepts exactly the prefixes the wire schema does (E_NAME_INVALID otherwise), every prefix of a valid name among them', () => {
    const prefix = fc.oneof(candidate, fc.string({ unit: fc.oneof(tricky, anyCodePoint), minLength: 4000, maxLength: 4200 }));
    fc.assert(
      fc.property(prefix, fc.nat(), (text, cut) => {
        const schemaAccepts = namePrefix.safeParse(text).success;
        let accepted = true;
        try {
          expect(validatePrefix(text)).toBe(text);
        } catch (err) {
          expect(err).toBeInstanceOf(CairnError);
          expect((err as CairnError).code).toBe('E_NAME_INVALID');
          accepted = false;
        }
        expect(accepted).toBe(schemaAccepts);
        if (isValidName(text)) expect(validatePrefix(text.slice(0, cut % (text.length + 1)))).toBeDefined();
      }),
      { numRuns: 300 },
    );
  });

  it('validateTokenPrefix accepts exactly the non-empty starts of valid names (E_NAME_INVALID otherwise)', () => {
    const startsSomeName = (text: string) => text.length > 0 && (isValidName(text) || isValidName(`${text}x`));
    fc.assert(
      fc.property(candidate, fc.nat(), (text, cut) => {
        let accepted = true;
        try {
          expect(validateTokenPrefix(text)).toBe(text);
        } catch (err) {
          expect(err).toBeInstanceOf(CairnError);
          expect((err as CairnError).code).toBe('E_NAME_INVALID');
          accepted = false;
        }
        expect(accepted).toBe(startsSomeName(text));
        // Every start of a valid name that does not split a surrogate pair is a token prefix.
        const start = text.slice(0, 1 + (cut % Math.max(1, text.length)));
        if (isValidName(text) && !/[\uD800-\uDBFF]$/.test(start)) expect(validateTokenPrefix(start)).toBe(start);
      }),
      { numRuns: 500 },
    );
  });

  it('validateTokenPrefix says why a prefix can match no name', () => {
    expect(() => validateTokenPrefix('')).toThrow('a token prefix must not be empty');
    expect(() => validateTokenPrefix('/abs')).toThrow('no name can start with "/abs" (a name must not start with "/")');
    expect(() => validateTokenPrefix('a/../')).toThrow('no name can start with "a/../" ("a/../x" has a ".." segment)');
    expect(() => validateTokenPrefix(`${'a'.repeat(1023)}/`)).toThrow(/at most 1024 bytes/);
    expect(validateTokenPrefix('photos/')).toBe('photos/');
  });

  it('either returns the string unchanged or throws E_NAME_INVALID, nothing else', () => {
    fc.assert(
      fc.property(candidate, (name) => {
        let accepted: string;
        try {
          accepted = validateName(name);
        } catch (err) {
          expect(err).toBeInstanceOf(CairnError);
          expect((err as CairnError).code).toBe('E_NAME_INVALID');
          expect(isValidName(name)).toBe(false);
          return;
        }
        expect(accepted).toBe(name);
        expect(isValidName(name)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('an accepted name has no empty, "." or ".." segment, no NUL, no leading "/", and is ≤ 1024 bytes of valid UTF-8', () => {
    fc.assert(
      fc.property(candidate, (name) => {
        fc.pre(isValidName(name));
        expect(name.startsWith('/')).toBe(false);
        expect(name.includes('\0')).toBe(false);
        for (const segment of name.split('/')) expect(['', '.', '..']).not.toContain(segment);
        const utf8 = Buffer.from(name, 'utf8');
        expect(utf8.length).toBeLessThanOrEqual(MAX_NAME_BYTES);
        // Well-formed: encoding to UTF-8 and back loses nothing (a lone surrogate would become U+FFFD).
        expect(utf8.toString('utf8')).toBe(name);
        expect(decodeName(utf8)).toBe(name);
      }),
      { numRuns: 500 },
    );
  });

  it('decodeName of arbitrary bytes returns a valid name or throws E_NAME_INVALID', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (raw) => {
        let name: string;
        try {
          name = decodeName(raw);
        } catch (err) {
          expect(err).toBeInstanceOf(CairnError);
          expect((err as CairnError).code).toBe('E_NAME_INVALID');
          return;
        }
        expect(isValidName(name)).toBe(true);
        expect(Buffer.from(name, 'utf8').equals(Buffer.from(raw))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});
