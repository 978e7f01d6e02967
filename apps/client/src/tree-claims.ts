import { sep } from 'node:path';
import { type NameFolding, nameKey } from './name-folding';

/**
 * The paths a `get -r` has given out below its directory, as the file system compares them (on macOS
 * `A` and `a` are one). Each is a file or a directory, never both, and no file is given out twice:
 * stored names can clash on any file system, `x/a` a file and `x/a/b` needing `a` a directory. Names
 * are claimed in the order `ls` lists them, so the first in name order wins and the other is skipped
 * (`a` before `a/b`, `B/c` before `b`), whichever download ends first.
 */
export class TreeClaims {
  private readonly files = new Set<string>();
  private readonly directories = new Set<string>();

  constructor(private readonly folding: NameFolding) {}

  /**
   * Claims `path` (relative, `sep`-separated) as a file and the directories it needs below the root:
   * false where it is a file or directory claimed already, or a directory it needs is a claimed file.
   */
  claim(path: string): boolean {
    const file = nameKey(path, this.folding);
    const parents = parentsOf(path).map((parent) => nameKey(parent, this.folding));
    if (this.files.has(file) || this.directories.has(file) || parents.some((parent) => this.files.has(parent))) return false;
    this.files.add(file);
    for (const parent of parents) this.directories.add(parent);
    return true;
  }
}

/** `a/b/c` → `a`, `a/b`: the directories a file at `path` is in, below the root. */
function parentsOf(path: string): string[] {
  const parts = path.split(sep);
  return parts.slice(1).map((_, i) => parts.slice(0, i + 1).join(sep));
}
