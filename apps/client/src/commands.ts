import { fstat, type Stats } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { CairnError, isNodeId, isTokenId, validateName } from '@cairn/protocol';
import { CairnClient, FileStat, TransferProgress, noDirectoryFor, withLocalErrors } from '@cairn/transfer';
import { count, formatFileLine, formatNodes, formatStat, formatStatus, formatTokens, printable, skippedNote } from './format';
import { createProgress } from './progress';
import { formatTreeSummary, getTree, putTree } from './tree-transfer';
import { uploadLog } from './upload-log';

export interface CommandContext {
  client: CairnClient;
  json: boolean;
  /** No progress bar even on a terminal. */
  quiet: boolean;
  replicas?: number;
  /** Where output goes; tests and embedding may swap it. */
  out: NodeJS.WritableStream;
  /** Where a note beside an error line goes (what a failed `put -r` had stored): stderr unless swapped. */
  err?: NodeJS.WritableStream;
  /** The CLI's logger (stderr; silent below --log-level warn unless asked). */
  log: Logger;
}

const print = (ctx: CommandContext, text: string) => ctx.out.write(`${text}\n`);
const printJson = (ctx: CommandContext, value: unknown) => ctx.out.write(`${JSON.stringify(value)}\n`);

/** `put <file|-> [name]`: the name defaults to the file's base name; `-` reads stdin and needs a name. */
export async function putCommand(ctx: CommandContext, source: string, name: string | undefined): Promise<void> {
  const fromStdin = source === '-';
  if (fromStdin && (name === undefined || name.endsWith('/'))) throw new CairnError('E_USAGE', 'put - needs a name: cairn put - <name>');
  // A name ending in `/` is a directory of names, as `cp f dir/` and `aws s3 cp f s3://b/dir/` take it.
  const target = name === undefined ? basename(source) : name.endsWith('/') ? `${name}${basename(source)}` : name;
  validateName(target);
  const path = resolve(source);
  const total = fromStdin ? undefined : await sizeToPut(source);
  const progress = createProgress(`put ${target}`, total, ctx);
  const logged = uploadLog(ctx.log, target);
  let skippedChunks = 0;
  const onProgress = (p: TransferProgress) => {
    skippedChunks = p.skippedChunks;
    progress.update(p.bytes, p.skippedChunks);
  };
  const putting = ctx.client.put(target, fromStdin ? process.stdin : { path }, { replicas: ctx.replicas, onProgress, onBegin: logged.onBegin });
  const file = await withLocalErrors(`read ${source}`, putting, NO_FILE).finally(() => progress.stop());
  logged.stored(file);
  if (ctx.json) printJson(ctx, { ...file, skippedChunks });
  else print(ctx, `stored ${printable(file.name)} (${count(file.size, 'byte')}, ${count(file.chunkCount, 'chunk')}, ${count(file.replicas, 'replica')}${skippedNote(skippedChunks)})`);
}

const NO_FILE = { ENOENT: 'no such file' };

/** The size of the file a put reads; a directory is refused, pointing to `put -r`. */
async function sizeToPut(source: string): Promise<number> {
  const stats = await withLocalErrors(`read ${source}`, stat(source), NO_FILE);
  if (stats.isDirectory()) throw new CairnError('E_USAGE', `${source} is a directory: store a tree with put -r ${source} <prefix>`);
  return stats.size;
}

/**
 * `get <name> [dest|-]`: dest defaults to the name's base name in the current directory; a directory
 * gets the file under that base name, as with `cp`. A dest that is the process's own standard output
 * (`/dev/stdout`, or a link to it) is `-`: written through the inherited descriptor, at its offset,
 * with no line of its own mixed into the bytes.
 */
export async function getCommand(ctx: CommandContext, name: string, dest: string | undefined): Promise<void> {
  validateName(name);
  if (dest === '-' || (dest !== undefined && (await isStandardOutput(dest)))) return catCommand(ctx, name);
  const local = await downloadPath(name, dest);
  const path = resolve(local);
  const { size } = await ctx.client.stat(name, { withChunks: false });
  const progress = createProgress(`get ${name}`, size, ctx);
  const getting = ctx.client.getToFile(name, path, { onProgress: (p) => progress.update(p.bytes) });
  const file = await withLocalErrors(`write ${local}`, getting, noDirectoryFor(local)).finally(() => progress.stop());
  if (ctx.json) printJson(ctx, { ...file, path });
  else print(ctx, `saved ${printable(file.name)} to ${printable(path)} (${count(file.size, 'byte')})`);
}

/** Where a get writes, spelled as the user gave it (for the messages about it). */
async function downloadPath(name: string, dest: string | undefined): Promise<string> {
  if (dest === undefined) return basename(name);
  const isDirectory = await stat(dest).then((s) => s.isDirectory(), () => false);
  if (isDirectory) return join(dest, basename(name));
  // As `cp`: a trailing slash names a directory, and there is none.
  if (dest.endsWith('/')) throw new CairnError('E_USAGE', `${dest} is not a directory`);
  return dest;
}

async function isStandardOutput(dest: string): Promise<boolean> {
  const [target, stdout] = await Promise.all([stat(dest).catch(() => undefined), fstatOrNothing(1)]);
  return target !== undefined && stdout !== undefined && target.dev === stdout.dev && target.ino === stdout.ino;
}

function fstatOrNothing(fd: number): Promise<Stats | undefined> {
  return new Promise((done) => fstat(fd, (err, stats) => done(err ? undefined : stats)));
}

/** Streams a file to stdout, binary-safe, with backpressure. */
export async function catCommand(ctx: CommandContext, name: string): Promise<void> {
  validateName(name);
  const stdout = process.stdout;
  for await (const chunk of ctx.client.read(name)) {
    // Given back once stdout has written it, for a later chunk to be read into.
    if (!stdout.write(chunk, () => ctx.client.recycle(chunk))) await new Promise((r) => stdout.once('drain', r));
  }
}

export async function lsCommand(ctx: CommandContext, prefix: string): Promise<void> {
  const files = [];
  for await (const file of ctx.client.ls(prefix)) {
    if (ctx.json) files.push(file);
    else print(ctx, formatFileLine(file));
  }
  if (ctx.json) printJson(ctx, files);
}

export async function statCommand(ctx: CommandContext, name: string): Promise<void> {
  const stat: FileStat = await ctx.client.stat(name);
  if (ctx.json) printJson(ctx, stat);
  else print(ctx, formatStat(stat));
}

export async function rmCommand(ctx: CommandContext, name: string): Promise<void> {
  const removed = await ctx.client.rm(name);
  if (ctx.json) printJson(ctx, { removed: removed.name });
  else print(ctx, `removed ${printable(removed.name)}`);
}

export async function nodesCommand(ctx: CommandContext): Promise<void> {
  const nodes = await ctx.client.nodesInfo();
  if (ctx.json) printJson(ctx, nodes);
  else print(ctx, formatNodes(nodes));
}

export async function statusCommand(ctx: CommandContext): Promise<void> {
  const status = await ctx.client.status();
  if (ctx.json) printJson(ctx, status);
  else print(ctx, formatStatus(status));
}


/**
 * An argument quoted for an error line, at most 70 characters of it. Not escaped here: the error line
 * is printed through `printable`, which escapes control characters and backslashes once.
 */
function quoted(arg: string): string {
  return `"${arg.length > 70 ? `${arg.slice(0, 70)}…` : arg}"`;
}

/** `drain <node-id>`: move a node's chunks elsewhere before retiring it; `--undo` takes it back. */
export async function drainCommand(ctx: CommandContext, nodeId: string, undo: boolean): Promise<void> {
  requireNodeId('drain', nodeId);
  await ctx.client.drain(nodeId, !undo);
  if (ctx.json) printJson(ctx, { node: nodeId, draining: !undo });
  else print(ctx, undo ? `node ${nodeId} accepts chunks again` : `node ${nodeId} is draining: its chunks are being copied elsewhere`);
}

/** `forget <node-id>`: a dead node gone for good leaves `nodes` and `status`. */
export async function forgetCommand(ctx: CommandContext, nodeId: string): Promise<void> {
  requireNodeId('forget', nodeId);
  await ctx.client.forgetNode(nodeId);
  if (ctx.json) printJson(ctx, { node: nodeId, forgotten: true });
  else print(ctx, `node ${nodeId} forgotten: no longer listed, its copies unlisted (should it come back, it registers again)`);
}

function requireNodeId(command: string, nodeId: string): void {
  if (!isNodeId(nodeId)) throw new CairnError('E_USAGE', `${command} needs a node id (1-64 of A-Z a-z 0-9 _ -, as \`cairn nodes\` shows), not ${quoted(nodeId)}`);
}

/**
 * `token create --scope S [--prefix P]`: prints the new token once (with --json: {id, token, prefix}).
 * Without --prefix, the controller limits the token to the creating token's own prefix, if it has one;
 * `token.created` does not say which, so it is read back from `token list` by id (only after the token
 * was made: that failing leaves the prefix unsaid, and the token is printed all the same).
 */
export async function tokenCreateCommand(ctx: CommandContext, scope: 'read' | 'write' | 'admin', prefix: string | undefined): Promise<void> {
  const created = await ctx.client.createToken(scope, prefix);
  const given = prefix !== undefined ? prefix : await prefixOfToken(ctx, created.id);
  if (ctx.json) return void printJson(ctx, { ...created, ...(given !== undefined ? { prefix: given } : {}) });
  const names = given === undefined ? '; its names: see cairn token list' : given === null ? ', every name' : `, names under "${printable(given)}"`;
  print(ctx, `token ${created.id} (${scope}${names}):\n${created.token}\nIt is shown only now: store it as a secret.`);
}

/** The prefix the controller gave token `id` (null: every name), or undefined where it cannot be read. */
async function prefixOfToken(ctx: CommandContext, id: string): Promise<string | null | undefined> {
  try {
    return (await ctx.client.listTokens()).find((t) => t.id === id)?.prefix;
  } catch (err) {
    ctx.log.info({ tokenId: id, err: (err as Error).message }, 'cannot read the new token\'s prefix back');
    return undefined;
  }
}

/** `token list`: a table of ids, scopes, prefixes and dates (with --json: the records as they are). */
export async function tokenListCommand(ctx: CommandContext): Promise<void> {
  const tokens = await ctx.client.listTokens();
  if (ctx.json) return void printJson(ctx, tokens);
  print(ctx, formatTokens(tokens));
}

export async function tokenRevokeCommand(ctx: CommandContext, id: string): Promise<void> {
  if (!isTokenId(id)) throw new CairnError('E_USAGE', `token revoke needs a token id (16 hex digits, as \`cairn token list\` shows), not ${quoted(id)}`);
  await ctx.client.revokeToken(id);
  if (ctx.json) printJson(ctx, { revoked: id });
  else print(ctx, `revoked ${id}`);
}

/** `put -r <dir> <prefix>` and `get -r <prefix> <dir>`, with one overall progress bar and a summary line. */
export async function putTreeCommand(ctx: CommandContext, dir: string, prefix: string): Promise<void> {
  const summary = await putTree(ctx, dir, prefix);
  if (ctx.json) printJson(ctx, summary);
  else print(ctx, formatTreeSummary('stored', summary));
}

export async function getTreeCommand(ctx: CommandContext, prefix: string, dir: string): Promise<void> {
  const summary = await getTree(ctx, prefix, dir);
  if (ctx.json) printJson(ctx, summary);
  else print(ctx, formatTreeSummary('fetched', summary));
}
