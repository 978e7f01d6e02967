import { CairnError } from '@cairn/protocol';

/**
 * A command's positional arguments, read by the CLI itself rather than by yargs: yargs reads each
 * declared positional again as `--<name> <word>`, which turns `-` into "" and cannot take a word after
 * `--` (`cairn rm -- -draft`). So commands declare none to yargs, and bind their words here.
 */

/** What yargs hands a handler: the command words and every word after them; those after `--` apart. */
export interface ParsedWords {
  _: Array<string | number>;
  '--'?: Array<string | number>;
}

/**
 * The words after a command `depth` words long (`token revoke` is 2), then every word after `--`:
 * those are arguments however they start, never options.
 */
export function positionalWords(args: ParsedWords, depth: number): string[] {
  return [...args._.slice(depth), ...(args['--'] ?? [])].map(String);
}

/**
 * Checks words against a synopsis such as `put <file|-> [name]`: `<x>` is required, `[x]` optional.
 * Too few is a usage error naming the first argument missing; one too many is refused, never dropped.
 * Returns the words (an optional one missing is `words.at(i) === undefined`).
 */
export function bindWords(synopsis: string, words: readonly string[]): readonly string[] {
  const parts = synopsis.split(' ');
  const params = parts.filter(isParam);
  const command = parts.filter((p) => !isParam(p)).join(' ');
  const required = params.filter((p) => p.startsWith('<')).length;
  if (words.length < required) throw new CairnError('E_USAGE', `${command} needs ${params[words.length]} (cairn ${synopsis})`);
  if (words.length > params.length) throw new CairnError('E_USAGE', `${command} takes no argument "${words[params.length]}" there (cairn ${synopsis})`);
  return words;
}

function isParam(part: string): boolean {
  return part.startsWith('<') || part.startsWith('[');
}

/** A name (or prefix) in Cairn: `-` stands for stdin or stdout, and only as a put's file or a get's destination. */
export function nameArg(word: string, what: 'name' | 'prefix' = 'name'): string {
  if (word === '-') throw new CairnError('E_USAGE', `"-" is not a ${what}: it means stdin or stdout, and only as the file of put or the destination of get`);
  return word;
}

/** A local path: an empty one would quietly mean the current directory. */
export function localPathArg(word: string, what: string): string {
  if (word === '') throw new CairnError('E_USAGE', `${what} must not be empty`);
  return word;
}

/** The directory of `put -r` or `get -r`: a real path, since a tree neither comes from stdin nor goes to stdout. */
export function treeDirArg(command: 'put -r' | 'get -r', word: string): string {
  if (word === '-') throw new CairnError('E_USAGE', `${command} needs a directory, not -: a tree cannot ${command === 'put -r' ? 'come from stdin' : 'go to stdout'}`);
  return localPathArg(word, `the directory of ${command}`);
}

/** An unknown command word, or none: a usage error that suggests the nearest command there is. */
export function unknownCommand(parent: string, words: readonly string[], commands: readonly string[]): CairnError {
  const [word] = words;
  if (word === undefined) return new CairnError('E_USAGE', parent ? `${parent} needs a command: ${commands.join(' | ')}` : 'name a command (see --help)');
  const nearest = nearestWord(word, commands);
  const said = `"${parent ? `${parent} ${word}` : word}"`;
  return new CairnError('E_USAGE', `unknown command ${said}${nearest ? `; did you mean ${parent ? `${parent} ` : ''}${nearest}?` : ' (see --help)'}`);
}

/** The closest of `words` to `typed` within 3 edits (as yargs suggests), if any. */
function nearestWord(typed: string, words: readonly string[]): string | undefined {
  let best: { word: string; distance: number } | undefined;
  for (const word of words) {
    const distance = editDistance(typed, word);
    if (distance <= 3 && (best === undefined || distance < best.distance)) best = { word, distance };
  }
  return best?.word;
}

/** Levenshtein distance: insertions, deletions and substitutions. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    previous = row;
  }
  return previous[b.length];
}
