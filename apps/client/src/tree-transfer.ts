import { lstat, mkdir, opendir, realpath } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { CairnError, isCairnError, validateName, type FileInfo } from '@cairn/protocol';
import type { CommandContext } from './commands';
import { type TransferProgress, localFileError, noDirectoryFor, withLocalErrors } from '@cairn/transfer';
import { count, formatBytes, printable, skippedNote } from './format';
import { createProgress } from './progress';
import { probeNameFolding } from './name-folding';
import { TreeClaims } from './tree-claims';
import { uploadLog } from './upload-log';

/** Files transferred at once by `put -r` / `get -r`. */
export const TREE_CONCURRENCY = 4;

export interface TreeSummary {
  files: number;
  bytes: number;
  skipped: string[];
  seconds: number;
  /** Chunks not sent because the nodes already had them (put -r run again after an interruption). */
  skippedChunks?: number;
}

/**
 * `put -r <dir> <prefix>`: every regular file under `dir` as `<prefix>/<relative path>`. Symbolic
 * links are not followed out of the tree: a link whose target resolves outside `dir` is skipped and
 * listed; one inside is skipped too (its target is stored under its own name already).
 */
export async function putTree(ctx: CommandContext, dir: string, prefix: string): Promise<TreeSummary> {
  const root = await withLocalErrors(`read ${dir}`, realpath(resolve(dir)), { ENOENT: 'no such directory' });
  if (!(await lstat(root)).isDirectory()) throw new CairnError('E_USAGE', `${dir} is not a directory`);
  const base = normalisePrefix(prefix);
  const started = Date.now();
  const summary: TreeSummary = { files: 0, bytes: 0, skipped: [], seconds: 0 };
  const progress = createProgress(`put -r ${base || '/'}`, 0, ctx);
  const done = new Map<string, number>();
  const report = () => progress.update([...done.values()].reduce((a, b) => a + b, 0));
  let sent = false; // any chunk sent or claimed: a run again has something to resume
  try {
    await runBounded(walk(root, summary.skipped), async ({ path, size }) => {
      const name = `${base}${relative(root, path).split(sep).join('/')}`;
      validateName(name);
      progress.addTotal(size);
      const logged = uploadLog(ctx.log, name);
      let skippedChunks = 0;
      const onProgress = (p: TransferProgress) => {
        sent ||= p.bytes > 0;
        done.set(path, p.bytes);
        skippedChunks = p.skippedChunks;
        report();
      };
      try {
        logged.stored(await ctx.client.put(name, { path }, { replicas: ctx.replicas, onProgress, onBegin: logged.onBegin }));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw localFileError(err, `read ${path}`);
        summary.skipped.push(path); // removed since the walk found it
        done.delete(path);
        report();
        return;
      }
      summary.skippedChunks = (summary.skippedChunks ?? 0) + skippedChunks;
      done.set(path, size);
      report();
      summary.files++;
      summary.bytes += size;
    });
  } catch (err) {
    progress.stop(); // first: the bar shares stderr with the note
    if (sent || summary.files > 0) tell(ctx, stoppedNote('put -r', summary));
    throw err;
  } finally {
    progress.stop();
  }
  summary.seconds = (Date.now() - started) / 1000;
  return summary;
}

/**
 * `get -r <prefix> <dir>`: every file under `prefix` taken as a directory (`photos` means `photos/…`,
 * as `put -r` stored them), written under `dir` at its name relative to the prefix; a file named
 * `prefix` itself is fetched too, under its base name. Whatever the stored names are, nothing is
 * written outside `dir`, and no two files are written to one path (the second is skipped and listed),
 * paths that differ only in case or Unicode normalisation counting as one where the file system does,
 * nor a file where another needs a directory (`x/a` and `x/a/b`): the first in name order is fetched.
 */
export async function getTree(ctx: CommandContext, prefix: string, dir: string): Promise<TreeSummary> {
  const root = resolve(dir);
  await withLocalErrors(`fetch into ${dir}`, mkdir(root, { recursive: true }), { EEXIST: 'not a directory' });
  const realRoot = await realpath(root);
  const base = normalisePrefix(prefix);
  const started = Date.now();
  const summary: TreeSummary = { files: 0, bytes: 0, skipped: [], seconds: 0 };
  const progress = createProgress(`get -r ${prefix || '/'}`, 0, ctx);
  const done = new Map<string, number>();
  const report = () => progress.update([...done.values()].reduce((a, b) => a + b, 0));
  const claims = new TreeClaims(await probeNameFolding(realRoot));
  try {
    await runBounded(filesUnder(ctx, prefix, base), async (file) => {
      const rel = file.name === prefix ? basenameOf(file.name) : file.name.slice(base.length);
      const inside = relative(root, resolve(root, ...rel.split('/')));
      const outside = inside === '..' || inside.startsWith(`..${sep}`) || isAbsolute(inside);
      // Claimed before anything is awaited, so in the order the names are listed: which of two
      // clashing names is fetched does not hang on which download ends first.
      if (inside === '' || outside || !claims.claim(inside)) {
        summary.skipped.push(file.name);
        return;
      }
      const local = join(dir, inside);
      if (!(await withLocalErrors(`write ${local}`, makeDirectoriesInside(realRoot, dirname(inside))))) {
        summary.skipped.push(file.name);
        return;
      }
      progress.addTotal(file.size);
      try {
        // A link, device or FIFO already at its name is replaced, never written through.
        await ctx.client.getToFile(file.name, join(realRoot, inside), { plainPath: true, onProgress: (p) => (done.set(file.name, p.bytes), report()) });
      } catch (err) {
        // Not found on the cluster (removed since listed); a local path not found is an error of this get.
        if (!isCairnError(err, 'E_NOT_FOUND') || err.details?.['localError']) throw localFileError(err, `write ${local}`, noDirectoryFor(local));
        summary.skipped.push(file.name); // removed since it was listed
        done.delete(file.name);
        report();
        return;
      }
      done.set(file.name, file.size);
      report();
      summary.files++;
      summary.bytes += file.size;
    });
  } catch (err) {
    progress.stop(); // first: the bar shares stderr with the note
    if (summary.files > 0) tell(ctx, stoppedNote('get -r', summary));
    throw err;
  } finally {
    progress.stop();
  }
  summary.seconds = (Date.now() - started) / 1000;
  return summary;
}

/** The files `get -r` fetches: those under `base`, and one named `prefix` itself; not `photos-old/…` for `photos`. */
async function* filesUnder(ctx: CommandContext, prefix: string, base: string): AsyncGenerator<FileInfo> {
  for await (const file of ctx.client.ls(prefix)) {
    if (file.name === prefix || file.name.startsWith(base)) yield file;
  }
}

function basenameOf(name: string): string {
  return name.split('/').filter(Boolean).pop() ?? name;
}

/**
 * Makes the directories of `rel` under the root one level at a time, each a real directory: false,
 * with nothing made past it, where one is a symbolic link or something else (a link to elsewhere
 * already in the tree must not lead a get out of it, nor make directories there). What is at the
 * file's own name is `getToFile`'s, told to take it as a plain path.
 */
async function makeDirectoriesInside(realRoot: string, rel: string): Promise<boolean> {
  let path = realRoot;
  for (const part of rel.split(sep).filter((p) => p !== '' && p !== '.')) {
    path = join(path, part);
    const existing = await lstat(path).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    if (existing) {
      if (!existing.isDirectory()) return false;
      continue;
    }
    await mkdir(path).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err; // made meanwhile by another file's get: looked at below
    });
    if (!(await lstat(path)).isDirectory()) return false;
  }
  return true;
}

/**
 * What a tree transfer that failed midway had done, for stderr before its error line (stdout stays
 * empty, --json or not: the summary is printed only for a whole tree). Said only where it had done
 * something (a put -r sent a chunk, a get -r wrote a file): a failure at once stays one line. A put -r
 * run again resumes: the files stored are put again, sending only the chunks not stored yet. A get -r
 * writes each file whole or not at all, and fetches every file again.
 */
export function stoppedNote(command: 'put -r' | 'get -r', s: Pick<TreeSummary, 'files' | 'bytes'>): string {
  const done = `${count(s.files, 'file')} (${formatBytes(s.bytes)})`;
  return command === 'put -r'
    ? `put -r stored ${done} before it stopped; running the same command again resumes: it skips the chunks already stored`
    : `get -r fetched ${done} before it stopped, each one whole; running the same command again fetches them all again`;
}

/** A line on stderr beside the error line, as the error line is written: `cairn: …`. */
function tell(ctx: CommandContext, note: string): void {
  (ctx.err ?? process.stderr).write(`cairn: ${note}\n`);
}

export function formatTreeSummary(verb: string, s: TreeSummary): string {
  const skipped = s.skipped.length > 0 ? `; skipped ${s.skipped.length}: ${s.skipped.slice(0, 5).map(printable).join(', ')}${s.skipped.length > 5 ? ', …' : ''}` : '';
  return `${verb} ${count(s.files, 'file')} (${formatBytes(s.bytes)}) in ${s.seconds.toFixed(1)} s${skipped}${skippedNote(s.skippedChunks ?? 0)}`;
}

function normalisePrefix(prefix: string): string {
  if (prefix === '' || prefix.endsWith('/')) return prefix;
  return `${prefix}/`;
}

/** Regular files under `dir`, depth first, without following symbolic links. */
async function* walk(dir: string, skipped: string[]): AsyncGenerator<{ path: string; size: number }> {
  for await (const entry of await withLocalErrors(`read ${dir}`, opendir(dir))) {
    const path = join(dir, entry.name);
    if (entry.isSymbolicLink()) skipped.push(path);
    else if (entry.isDirectory()) yield* walk(path, skipped);
    else if (entry.isFile()) {
      const size = await lstat(path).then(
        (stats) => stats.size,
        (err: NodeJS.ErrnoException) => {
          if (err.code !== 'ENOENT') throw localFileError(err, `read ${path}`);
          skipped.push(path); // removed since the directory was read
          return undefined;
        },
      );
      if (size !== undefined) yield { path, size };
    }
  }
}

/**
 * Runs `work` over an async iterable with at most TREE_CONCURRENCY at once; the first failure (of a
 * task, or of the iterable itself) stops it, once the tasks already running have ended: the client
 * must not be closed under them.
 */
async function runBounded<T>(items: AsyncIterable<T>, work: (item: T) => Promise<void>): Promise<void> {
  const running = new Set<Promise<void>>();
  let failure: unknown;
  try {
    for await (const item of items) {
      if (failure) break;
      const task: Promise<void> = work(item)
        .catch((err) => {
          failure ??= err;
        })
        .finally(() => running.delete(task));
      running.add(task);
      if (running.size >= TREE_CONCURRENCY) await Promise.race(running);
    }
  } finally {
    await Promise.all(running);
  }
  if (failure) throw failure;
}
