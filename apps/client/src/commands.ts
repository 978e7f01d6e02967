import { basename, resolve } from 'node:path';
import { CairnError, validateName } from '@cairn/protocol';
import { CairnClient, FileStat } from '@cairn/transfer';
import { formatFileLine, formatNodes, formatStat, formatStatus } from './format';

export interface CommandContext {
  client: CairnClient;
  json: boolean;
  replicas?: number;
  /** Where output goes; tests and embedding may swap it. */
  out: NodeJS.WritableStream;
}

const print = (ctx: CommandContext, text: string) => ctx.out.write(`${text}\n`);
const printJson = (ctx: CommandContext, value: unknown) => ctx.out.write(`${JSON.stringify(value)}\n`);

/** `put <file|-> [name]`: the name defaults to the file's base name; `-` reads stdin and needs a name. */
export async function putCommand(ctx: CommandContext, source: string, name: string | undefined): Promise<void> {
  const fromStdin = source === '-';
  const target = name ?? (fromStdin ? undefined : basename(source));
  if (target === undefined) throw new CairnError('E_USAGE', 'put - needs a name: cairn put - <name>');
  validateName(target);
  const file = await ctx.client.put(target, fromStdin ? process.stdin : { path: resolve(source) }, { replicas: ctx.replicas });
  if (ctx.json) printJson(ctx, file);
  else print(ctx, `stored ${file.name} (${file.size} bytes, ${file.chunkCount} chunks, ${file.replicas} replicas)`);
}

/** `get <name> [dest|-]`: dest defaults to the name's base name in the current directory. */
export async function getCommand(ctx: CommandContext, name: string, dest: string | undefined): Promise<void> {
  validateName(name);
  if (dest === '-') return catCommand(ctx, name);
  const path = resolve(dest ?? basename(name));
  const file = await ctx.client.getToFile(name, path);
  if (ctx.json) printJson(ctx, { ...file, path });
  else print(ctx, `saved ${file.name} to ${path} (${file.size} bytes)`);
}

/** Streams a file to stdout, binary-safe, with backpressure. */
export async function catCommand(_ctx: CommandContext, name: string): Promise<void> {
  validateName(name);
  const stdout = process.stdout;
  for await (const chunk of _ctx.client.read(name)) {
    if (!stdout.write(chunk)) await new Promise((r) => stdout.once('drain', r));
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
  else print(ctx, `removed ${removed.name}`);
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


/** `drain <node-id>`: move a node's chunks elsewhere before retiring it; `--undo` takes it back. */
export async function drainCommand(ctx: CommandContext, nodeId: string, undo: boolean): Promise<void> {
  await ctx.client.drain(nodeId, !undo);
  if (ctx.json) printJson(ctx, { node: nodeId, draining: !undo });
  else print(ctx, undo ? `node ${nodeId} accepts chunks again` : `node ${nodeId} is draining: its chunks are being copied elsewhere`);
}
