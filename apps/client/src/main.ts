import { readFileSync } from 'node:fs';
import yargs, { Argv } from 'yargs';
import { CairnError, MAX_REPLICAS, envToFlags, isCairnError, toCairnError } from '@cairn/protocol';
import { CairnClient, DEFAULT_CONTROLLER } from '@cairn/transfer';
import * as cmd from './commands';
import { EXIT, exitCodeFor } from './exit-codes';

/** Global options, each also read from CAIRN_<OPTION> in the environment. */
const GLOBAL_OPTIONS = ['config', 'controller', 'json', 'replicas'];

interface GlobalArgs {
  controller: string;
  json: boolean;
  replicas?: number;
}

/**
 * The `cairn` CLI: a thin layer over CairnClient. Flags may stand before or after the command; each
 * is also CAIRN_<NAME> in the environment or a key in the --config file.
 */
function buildCli(argv: string[], run: (fn: (ctx: cmd.CommandContext) => Promise<void>, args: GlobalArgs) => Promise<void>): Argv {
  const act = <A>(fn: (ctx: cmd.CommandContext, args: A) => Promise<void>) => (args: A & GlobalArgs) => run((ctx) => fn(ctx, args), args);
  return yargs(argv)
    .scriptName('cairn')
    .usage('$0 <command> [options]\n\nThe Cairn client: store and fetch files in a Cairn cluster.')
    .config('config', 'JSON config file with any of the global options', (path) => JSON.parse(readFileSync(path, 'utf8')))
    .option('controller', { type: 'string', default: DEFAULT_CONTROLLER, global: true, describe: 'controller: host:port, ws(s):// or http(s):// (CAIRN_CONTROLLER)' })
    .option('json', { type: 'boolean', default: false, global: true, describe: 'machine-readable output' })
    .option('replicas', { type: 'number', global: true, describe: 'replication factor for put (default: the cluster\'s)' })
    .command(
      'put <file> [name]',
      'store a local file (or - for stdin) under a name',
      (y) => y.positional('file', { type: 'string', demandOption: true, describe: 'local file, or - for stdin' }).positional('name', { type: 'string', describe: 'name in Cairn (default: the file\'s base name)' }).example('$0 put photo.jpg photos/2024/photo.jpg', 'store photo.jpg under a logical path'),
      act((ctx, a: { file: string; name?: string }) => cmd.putCommand(ctx, dashArg(a.file), a.name)),
    )
    .command(
      'get <name> [dest]',
      'fetch a file to a local path (or - for stdout)',
      (y) => y.positional('name', { type: 'string', demandOption: true }).positional('dest', { type: 'string', describe: 'local path (default: the name\'s base name), or -' }).option('out', { type: 'string', hidden: true }).example('$0 get photos/2024/photo.jpg copy.jpg', 'fetch into copy.jpg'),
      act((ctx, a: { name: string; dest?: string; out?: string }) => cmd.getCommand(ctx, a.name, dashArg(a.dest ?? a.out))),
    )
    .command('cat <name>', 'write a file to stdout', (y) => y.positional('name', { type: 'string', demandOption: true }), act((ctx, a: { name: string }) => cmd.catCommand(ctx, a.name)))
    .command('ls [prefix]', 'list files whose names start with prefix', (y) => y.positional('prefix', { type: 'string', default: '' }), act((ctx, a: { prefix: string }) => cmd.lsCommand(ctx, a.prefix)))
    .command('stat <name>', 'show a file\'s size, SHA-256 and chunk placement', (y) => y.positional('name', { type: 'string', demandOption: true }), act((ctx, a: { name: string }) => cmd.statCommand(ctx, a.name)))
    .command('rm <name>', 'remove a file', (y) => y.positional('name', { type: 'string', demandOption: true }), act((ctx, a: { name: string }) => cmd.rmCommand(ctx, a.name)))
    .command('nodes', 'list storage nodes and their state', (y) => y, act((ctx) => cmd.nodesCommand(ctx)))
    .command('status', 'cluster totals and replication health', (y) => y, act((ctx) => cmd.statusCommand(ctx)))
    .command(
      'drain <node>',
      'admin: copy a node\'s chunks elsewhere so it can be retired (--undo to stop)',
      (y) => y.positional('node', { type: 'string', demandOption: true }).option('undo', { type: 'boolean', default: false }),
      act((ctx, a: { node: string; undo: boolean }) => cmd.drainCommand(ctx, a.node, a.undo)),
    )
    .demandCommand(1, 'name a command (see --help)')
    .recommendCommands()
    .strict()
    .parserConfiguration({ 'duplicate-arguments-array': false })
    .help()
    .version(false)
    .fail((message, err) => {
      throw err ?? new CairnError('E_USAGE', message);
    });
}

/** yargs-parser reads a lone "-" positional as ""; an empty path can only have meant stdin/stdout. */
function dashArg<T extends string | undefined>(value: T): T {
  return (value === '' ? '-' : value) as T;
}

/** The nx targets pass `--file=…` (and `--out=…`); map them onto the positional arguments. */
function fromNxTarget(argv: string[]): string[] {
  const at = argv.findIndex((a) => a === 'put' || a === 'get');
  if (at < 0 || !argv.some((a) => a === '--file' || a.startsWith('--file='))) return argv;
  const before = argv.slice(0, at);
  const [command, ...rest] = argv.slice(at);
  const take = (flag: string) => {
    const i = rest.findIndex((a) => a === `--${flag}` || a.startsWith(`--${flag}=`));
    if (i < 0) return undefined;
    const [arg] = rest.splice(i, 1);
    return arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : rest.splice(i, 1)[0];
  };
  const file = take('file');
  if (file === undefined) return argv;
  const out = take('out');
  return [...before, command, file, ...(out !== undefined ? [out] : []), ...rest];
}

async function main(): Promise<number> {
  let exitCode: number = EXIT.ok;
  const run = async (fn: (ctx: cmd.CommandContext) => Promise<void>, args: GlobalArgs) => {
    if (args.replicas !== undefined && (!Number.isInteger(args.replicas) || args.replicas < 1 || args.replicas > MAX_REPLICAS)) {
      throw new CairnError('E_USAGE', `--replicas must be an integer from 1 to ${MAX_REPLICAS}`);
    }
    const client = new CairnClient({ controller: args.controller });
    try {
      await fn({ client, json: args.json, replicas: args.replicas, out: process.stdout });
    } finally {
      await client.close();
    }
  };
  try {
    const argv = [...envToFlags(process.env, GLOBAL_OPTIONS), ...fromNxTarget(process.argv.slice(2))];
    await buildCli(argv, run).parseAsync();
  } catch (err) {
    const error = toCairnError(err, 'E_INTERNAL');
    process.stderr.write(`cairn: ${error.message}${isCairnError(err) ? ` (${error.code})` : ''}\n`);
    exitCode = exitCodeFor(error.code);
  }
  return exitCode;
}

main().then((code) => {
  process.exitCode = code;
});
