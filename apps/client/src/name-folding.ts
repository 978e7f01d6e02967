import { randomBytes } from 'node:crypto';
import { lstat, open, unlink } from 'node:fs/promises';
import { join } from 'node:path';

/** How a file system compares names: some take `A.txt` and `a.txt`, or `é` composed and decomposed, as one. */
export interface NameFolding {
  /** macOS's and Windows's defaults, ext4 and tmpfs directories with casefold. */
  ignoresCase: boolean;
  /** APFS and HFS+: a name written composed (NFC) is found decomposed (NFD), and the other way. */
  ignoresNormalisation: boolean;
}

/**
 * Finds out how the file system under `dir` compares names, by creating a probe file there and looking
 * it up under its upper-case and its decomposed spelling (as git probes for `core.ignorecase`). A
 * directory the probe cannot be written to is taken as comparing names exactly: a get into it fails
 * anyway. The probe is removed.
 */
export async function probeNameFolding(dir: string): Promise<NameFolding> {
  const name = `.cairn-probe-${randomBytes(6).toString('hex')}-\u00e9`; // é composed
  const path = join(dir, name);
  try {
    await (await open(path, 'wx')).close();
  } catch {
    return { ignoresCase: false, ignoresNormalisation: false };
  }
  try {
    return {
      ignoresCase: await exists(join(dir, name.toUpperCase())),
      ignoresNormalisation: await exists(join(dir, name.normalize('NFD'))),
    };
  } finally {
    await unlink(path).catch(() => undefined);
  }
}

/** The key under which such a file system files `path`: two paths with one key are one file there. */
export function nameKey(path: string, folding: NameFolding): string {
  const composed = folding.ignoresNormalisation ? path.normalize('NFC') : path;
  return folding.ignoresCase ? foldCase(composed) : composed;
}

/**
 * Case folded letter by letter, as a file system's table does: upper, then lower, each only where it
 * gives one letter. Lower alone folds by context (a final sigma); a whole-string upper expands some
 * letters (ß to SS), which would take `straße` and `strasse` for one name.
 */
function foldCase(name: string): string {
  let folded = '';
  for (const letter of name) {
    const upper = oneLetter(letter.toUpperCase(), letter);
    folded += oneLetter(upper.toLowerCase(), upper);
  }
  return folded;
}

function oneLetter(mapped: string, original: string): string {
  return [...mapped].length === 1 ? mapped : original;
}

async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}
