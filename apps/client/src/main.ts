import './young-generation'; // first: it must run before the rest of the CLI is loaded
import { readFileSync } from 'node:fs';
import yargs, { Argv } from 'yargs';
import { CairnError, MAX_REPLICAS, envToFlags, isCairnError, parseDuration, toCairnError } from '@cairn/protocol';
import { CairnClient, DEFAULT_CONTROLLER, LOG_FORMATS, LOG_LEVELS, type LogFormat, createProcessLogger, defaultConfigPath, readConfigFile } from '@cairn/transfer';
import * as cmd from './commands';
import { EXIT, exitCodeFor } from './exit-codes';
import { endOnBrokenPipe } from './broken-pipe';
import { failIfUnfinished } from './unfinished-command';
import { printable } from './format';
import { removeTempFilesOnSignals } from './interrupt';

/** ~/.config/cairn/client.json (or under $XDG_CONFIG_HOME), read when it exists. */
const CONFIG_PATH = defaultConfigPath('client');

/** Global options, each also read from CAIRN_<OPTION> in the environment. */
const GLOBAL_OPTIONS = ['config', 'controller', 'json', 'quiet', 'replicas', 'ca', 'timeout', 'log-level', 'log-format'];

interface GlobalArgs {
  controller: string;
  quiet: boolean;
  ca?: string;
  json: boolean;
  replicas?: number;
  timeout?: string;
  logLevel: string;
  logFormat: string;
  /** The command words, e.g. ['token', 'create']. */
  _: Array<string | number>;
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
    .option('config', { type: 'string', default: CONFIG_PATH, describe: 'JSON config file with any of the global options (CAIRN_CONFIG)' })
    .config('config', (path: string) => readConfigFile(path, CONFIG_PATH))
    .option('controller', { type: 'string', default: DEFAULT_CONTROLLER, global: true, describe: 'controller: host:port, ws(s):// or http(s):// (CAIRN_CONTROLLER)' })
    .option('json', { type: 'boolean', default: false, global: true, describe: 'machine-readable output' })
    .option('replicas', { type: 'number', global: true, describe: 'replication factor for put (default: the cluster\'s)' })
    .option('quiet', { alias: 'q', type: 'boolean', default: false, global: true, describe: 'no progress bar' })
    .option('ca', { type: 'string', global: true, describe: 'CA certificate (PEM) to trust for wss:// (CAIRN_CA)' })
    .option('timeout', { type: 'string', global: true, describe: 'fail a request after this long with no progress on its connection, e.g. 30s, 2m (default 30s) (CAIRN_TIMEOUT)' })
    .option('log-level', { type: 'string', default: 'warn', choices: LOG_LEVELS, global: true, describe: 'log on stderr from this level: info shows each command and a put\'s upload id, debug the connection too (CAIRN_LOG_LEVEL)' })
    .option('log-format', { type: 'string', default: 'json', choices: LOG_FORMATS, global: true, describe: 'stderr log lines as json, or pretty for reading (CAIRN_LOG_FORMAT)' })
    .command(
      'put <file> [name]',
      'store a local file (or - for stdin) under a name',
      (y) =>
        y
          .positional('file', { type: 'string', demandOption: true, describe: 'local file, or - for stdin (with -r: a directory)' })
          .positional('name', { type: 'string', describe: 'name in Cairn (default: the file\'s base name; with -r: the prefix)' })
          .option('recursive', { alias: 'r', type: 'boolean', default: false, describe: 'store a directory tree under a prefix' })
          .example('$0 put photo.jpg photos/2024/photo.jpg', 'store photo.jpg under a logical path')
          .example('$0 put -r ./site backups/site', 'store a whole directory under backups/site/'),
      act((ctx, a: { file: string; name?: string; recursive: boolean }) =>
        a.recursive ? cmd.putTreeCommand(ctx, a.file, a.name ?? '') : cmd.putCommand(ctx, dashArg(a.file), a.name),
      ),
    )
    .command(
      'get <name> [dest]',
      'fetch a file to a local path (or - for stdout)',
      (y) =>
        y
          .positional('name', { type: 'string', demandOption: true, describe: 'name in Cairn (with -r: a prefix)' })
          .positional('dest', { type: 'string', describe: 'local path (default: the name\'s base name; in a directory, under that name; a device or FIFO is written in place), or -; with -r: a directory' })
          .option('out', { type: 'string', hidden: true })
          .option('recursive', { alias: 'r', type: 'boolean', default: false, describe: 'fetch every file under a prefix into a directory' })
          .example('$0 get photos/2024/photo.jpg copy.jpg', 'fetch into copy.jpg')
          .example('$0 get -r backups/site ./restore', 'fetch everything under backups/site into ./restore'),
      act((ctx, a: { name: string; dest?: string; out?: string; recursive: boolean }) =>
        a.recursive ? cmd.getTreeCommand(ctx, a.name, a.dest ?? a.out ?? '.') : cmd.getCommand(ctx, a.name, dashArg(a.dest ?? a.out)),
      ),
    )
    .command('cat <name>', 'write a file to stdout', (y) => y.positional('name', { type: 'string', demandOption: true }).example('$0 cat logs/app.log | grep ERROR', 'stream a file into a pipe'), act((ctx, a: { name: string }) => cmd.catCommand(ctx, a.name)))
    .command('ls [prefix]', 'list files whose names start with prefix', (y) => y.positional('prefix', { type: 'string', default: '' }).example('$0 ls photos/2024/', 'files under photos/2024/').example('$0 ls --json', 'every file, as JSON'), act((ctx, a: { prefix: string }) => cmd.lsCommand(ctx, a.prefix)))
    .command('stat <name>', 'show a file\'s size, SHA-256 and chunk placement', (y) => y.positional('name', { type: 'string', demandOption: true }).example('$0 stat photos/a.jpg --json', 'size, sha256 and the nodes of every chunk'), act((ctx, a: { name: string }) => cmd.statCommand(ctx, a.name)))
    .command('rm <name>', 'remove a file', (y) => y.positional('name', { type: 'string', demandOption: true }).example('$0 rm photos/old.jpg', 'its space comes back after the GC grace period'), act((ctx, a: { name: string }) => cmd.rmCommand(ctx, a.name)))
    .command('nodes', 'list storage nodes and their state', (y) => y.example('$0 nodes --json', 'id, address, zone, state, capacity, used, chunks'), act((ctx) => cmd.nodesCommand(ctx)))
    .command('status', 'cluster totals and replication health', (y) => y.example('$0 status --json', 'nodes, files, bytes, chunks, underReplicated, lost, repair, gc'), act((ctx) => cmd.statusCommand(ctx)))
    .command('token', 'admin: create, list and revoke client tokens', (y) =>
      y
        .command(
          'create',
          'create a token (shown once)',
          (t) =>
            t
              .option('scope', { choices: ['read', 'write', 'admin'] as const, demandOption: true, describe: 'what it may do' })
              .option('prefix', { type: 'string', describe: 'only names starting with this' })
              .example('$0 token create --scope write --prefix photos/', 'a token that may put, get and rm under photos/'),
          act((ctx, a: { scope: 'read' | 'write' | 'admin'; prefix?: string }) => cmd.tokenCreateCommand(ctx, a.scope, a.prefix)),
        )
        .command('list', 'list tokens (ids, scopes, prefixes; never secrets)', (t) => t.example('$0 token list', 'every token and whether it is revoked'), act((ctx) => cmd.tokenListCommand(ctx)))
        .command(
          'revoke <id>',
          'revoke a token; its open connections close at once',
          (t) => t.positional('id', { type: 'string', demandOption: true }).example('$0 token revoke 3f2a9c0e11d4b5a6', 'its open connections close at once'),
          act((ctx, a: { id: string }) => cmd.tokenRevokeCommand(ctx, a.id)),
        )
        .demandCommand(1, 'token create | list | revoke'),
    )
    .command(
      'drain <node>',
      'admin: copy a node\'s chunks elsewhere so it can be retired (--undo to stop)',
      (y) =>
        y
          .positional('node', { type: 'string', demandOption: true })
          .option('undo', { type: 'boolean', default: false })
          .example('$0 drain n-4f1c2a9b33e0', 'copy its chunks elsewhere; retire it when status shows nothing under-replicated'),
      act((ctx, a: { node: string; undo: boolean }) => cmd.drainCommand(ctx, a.node, a.undo)),
    )
    .command(
      'forget <node>',
      'admin: forget a dead node gone for good (no longer listed; its copies unlisted)',
      (y) =>
        y
          .positional('node', { type: 'string', demandOption: true })
          .example('$0 forget n-4f1c2a9b33e0', 'after it died or was retired: `nodes` and `status` stop counting it'),
      act((ctx, a: { node: string }) => cmd.forgetCommand(ctx, a.node)),
    )
    .demandCommand(1, 'name a command (see --help)')
    .recommendCommands()
    .strict()
    .parserConfiguration({ 'duplicate-arguments-array': false })
    .help()
    .version(false)
    .fail((message, err) => {
      // yargs' own complaints (unknown command, missing argument, unreadable --config) are usage errors.
      throw isCairnError(err) ? err : new CairnError('E_USAGE', message || err?.message || 'usage error');
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

function readCa(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new CairnError('E_USAGE', `cannot read --ca ${path}: ${(err as Error).message}`);
  }
}

/** `--timeout`: a duration of at least a second (a bare number would be milliseconds, and fail every request). */
function parseTimeout(value: string): number {
  const ms = parseDuration(value, '--timeout');
  if (ms < 1000) throw new CairnError('E_USAGE', `--timeout must be at least 1s, got ${value}`);
  return ms;
}

async function main(): Promise<number> {
  let exitCode: number = EXIT.ok;
  const run = async (fn: (ctx: cmd.CommandContext) => Promise<void>, args: GlobalArgs) => {
    if (args.replicas !== undefined && (!Number.isInteger(args.replicas) || args.replicas < 1 || args.replicas > MAX_REPLICAS)) {
      throw new CairnError('E_USAGE', `--replicas must be an integer from 1 to ${MAX_REPLICAS}`);
    }
    // Logs go to stderr, so stdout stays the command's output; at the default level (warn) there are none.
    const log = createProcessLogger({ level: args.logLevel, format: args.logFormat as LogFormat, base: { role: 'client' }, destination: 2 });
    const command = args._.join(' ');
    const started = Date.now();
    log.info({ command, controller: args.controller }, 'command started');
    const requestTimeoutMs = args.timeout === undefined ? undefined : parseTimeout(args.timeout);
    const client = new CairnClient({ controller: args.controller, ca: args.ca ? readCa(args.ca) : undefined, requestTimeoutMs, log });
    try {
      // A progress bar would be torn apart by log lines on the same stderr: logging turns it off.
      await fn({ client, json: args.json, quiet: args.quiet || log.isLevelEnabled('info'), replicas: args.replicas, out: process.stdout, log });
      log.info({ command, ms: Date.now() - started }, 'command finished');
    } catch (err) {
      // The one-line error on stderr is the user's; this line is for whoever follows the logs.
      const { code, message } = toCairnError(err, 'E_INTERNAL');
      log.info({ command, ms: Date.now() - started, code, reason: message }, 'command failed');
      throw err;
    } finally {
      await client.close();
    }
  };
  try {
    const argv = [...envToFlags(process.env, GLOBAL_OPTIONS), ...fromNxTarget(process.argv.slice(2))];
    await buildCli(argv, run).parseAsync();
  } catch (err) {
    const error = toCairnError(err, 'E_INTERNAL');
    // One line, whatever the message holds: it may quote a name, or come from a peer.
    process.stderr.write(`cairn: ${printable(error.message)}${isCairnError(err) ? ` (${error.code})` : ''}\n`);
    exitCode = exitCodeFor(error.code);
  }
  return exitCode;
}

endOnBrokenPipe(process);
removeTempFilesOnSignals();
const command = failIfUnfinished(process, EXIT.failure);
main().then((code) => {
  command.finish();
  process.exitCode = code;
});
