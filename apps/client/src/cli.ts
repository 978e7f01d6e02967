import yargs, { Argv } from 'yargs';
import { CairnError, PROTOCOL_VERSION, envToFlags, isCairnError } from '@cairn/protocol';
import { DEFAULT_CONTROLLER, LOG_FORMATS, LOG_LEVELS, defaultConfigPath, readConfigFile } from '@cairn/transfer';
import * as cmd from './commands';
import { ParsedWords, bindWords, localPathArg, nameArg, positionalWords, treeDirArg, unknownCommand } from './arguments';
import { GLOBAL_OPTION_NAMES, GlobalArgs, GlobalOption, GlobalSettings, LoadedConfig, SWITCHES, checkConfig, globalSettings, optionSource } from './global-options';

/** What a command does once its arguments are checked. */
export type Action = (ctx: cmd.CommandContext) => Promise<void>;

/** Runs a command's action with the checked global options; `command` is its words, e.g. `token create`. */
export type Run = (action: Action, settings: GlobalSettings, command: string) => Promise<void>;

/** Each command's arguments, as help shows them and as its words are checked against. */
const SYNOPSIS = {
  put: 'put <file|-> [name]',
  putTree: 'put -r <dir> <prefix>',
  get: 'get <name> [dest|-]',
  getTree: 'get -r <prefix> <dir>',
  cat: 'cat <name>',
  ls: 'ls [prefix]',
  stat: 'stat <name>',
  rm: 'rm <name>',
  nodes: 'nodes',
  status: 'status',
  tokenCreate: 'token create',
  tokenList: 'token list',
  tokenRevoke: 'token revoke <id>',
  drain: 'drain <node>',
  forget: 'forget <node>',
} as const;

const COMMANDS = ['put', 'get', 'cat', 'ls', 'stat', 'rm', 'nodes', 'status', 'token', 'drain', 'forget'];
const TOKEN_COMMANDS = ['create', 'list', 'revoke'];

const ENVIRONMENT_HELP = [
  'Every global option is also CAIRN_<NAME> in the environment (CAIRN_LOG_LEVEL for --log-level; switches take true/false, 1/0 or yes/no) and a key of the --config file.',
  'A flag wins over the environment, the environment over the config file, the config file over the default.',
  'The token comes from CAIRN_TOKEN in the environment only, never from a flag; unset, a local cluster\'s admin token is found in .cairn/controller.',
  'Words after -- are arguments, never options: cairn rm -- -draft.',
].join('\n');

/**
 * The `cairn` CLI: a thin layer over CairnClient. `commandLine` is the user's arguments; flags may stand
 * before or after the command, and each global option is also CAIRN_<NAME> in `env` or a key of the
 * --config file. yargs parses options and finds the command; the command's own words are bound in
 * arguments.ts, so that `-` and words after `--` arrive as they were typed.
 */
export function buildCli(commandLine: string[], env: NodeJS.ProcessEnv, run: Run): Argv {
  const defaultConfig = defaultConfigPath('client', env);
  let config: LoadedConfig | undefined;
  const source = (option: GlobalOption) => optionSource(option, commandLine, env, config);
  const act =
    <A>(depth: number, bind: (args: A, words: string[]) => Action) =>
    (args: A & GlobalArgs & ParsedWords) =>
      run(bind(args, positionalWords(args, depth)), globalSettings(args, source), args._.slice(0, depth).join(' '));
  return yargs([...envToFlags(env, GLOBAL_OPTION_NAMES, 'CAIRN_', SWITCHES), ...fromNxTarget(commandLine)])
    .scriptName('cairn')
    .usage('$0 <command> [options]\n\nThe Cairn client: store and fetch files in a Cairn cluster.')
    .epilogue(ENVIRONMENT_HELP)
    .option('config', { type: 'string', default: defaultConfig })
    .config('config', 'JSON config file with any of the global options (CAIRN_CONFIG)', (path: string) => {
      config = checkConfig({ path, values: readConfigFile(path, defaultConfig) });
      return config.values;
    })
    .option('controller', { type: 'string', default: DEFAULT_CONTROLLER, global: true, describe: 'controller: host:port, ws(s):// or http(s):// (CAIRN_CONTROLLER)' })
    .option('json', { type: 'boolean', default: false, global: true, describe: 'machine-readable output (CAIRN_JSON)' })
    .option('replicas', { type: 'number', global: true, describe: 'replication factor for put (default: the cluster\'s) (CAIRN_REPLICAS)' })
    .option('quiet', { alias: 'q', type: 'boolean', default: false, global: true, describe: 'no progress bar (CAIRN_QUIET)' })
    .option('ca', { type: 'string', global: true, describe: 'CA certificate (PEM) to trust for wss:// (CAIRN_CA)' })
    .option('timeout', { type: 'string', global: true, describe: 'fail a request after this long with no progress on its connection, e.g. 30s, 2m; from 1s to 24.8d (default 30s) (CAIRN_TIMEOUT)' })
    .option('log-level', { type: 'string', default: 'warn', choices: LOG_LEVELS, global: true, describe: 'log on stderr from this level: info shows each command and a put\'s upload id, debug the connection too (CAIRN_LOG_LEVEL)' })
    .option('log-format', { type: 'string', default: 'json', choices: LOG_FORMATS, global: true, describe: 'stderr log lines as json, or pretty for reading (CAIRN_LOG_FORMAT)' })
    .command(
      'put',
      `store a local file (or - for stdin) under a name: ${SYNOPSIS.put}, or a tree: ${SYNOPSIS.putTree}`,
      (y) =>
        y
          .usage(usage("Store a local file, or stdin (-), under a name (default: the file's base name); with -r, every file under a directory under a prefix.", SYNOPSIS.put, SYNOPSIS.putTree))
          .option('recursive', { alias: 'r', type: 'boolean', default: false, describe: 'store a directory tree under a prefix' })
          .example('$0 put photo.jpg photos/2024/photo.jpg', 'store photo.jpg under a logical path')
          .example('$0 put -r ./site backups/site', 'store a whole directory under backups/site/'),
      act(1, (a: { recursive: boolean }, words) => (a.recursive ? putTree(words) : put(words))),
    )
    .command(
      'get',
      `fetch a file to a local path (or - for stdout): ${SYNOPSIS.get}, or a tree: ${SYNOPSIS.getTree}`,
      (y) =>
        y
          .usage(usage("Fetch a file to dest (default: the name's base name; in a directory, under that name; a device or FIFO is written in place), or to stdout (-); with -r, every file under a prefix into a directory.", SYNOPSIS.get, SYNOPSIS.getTree))
          .option('out', { type: 'string', hidden: true })
          .option('recursive', { alias: 'r', type: 'boolean', default: false, describe: 'fetch every file under a prefix into a directory' })
          .example('$0 get photos/2024/photo.jpg copy.jpg', 'fetch into copy.jpg')
          .example('$0 get -r backups/site ./restore', 'fetch everything under backups/site into ./restore'),
      act(1, (a: { recursive: boolean; out?: string }, words) => (a.recursive ? getTree(words) : get(words, a.out))),
    )
    .command('cat', `write a file to stdout: ${SYNOPSIS.cat}`, (y) => y.usage(usage('Write a file to stdout.', SYNOPSIS.cat)).example('$0 cat logs/app.log | grep ERROR', 'stream a file into a pipe'), act(1, (_a, words) => oneName(SYNOPSIS.cat, words, cmd.catCommand)))
    .command('ls', `list files whose names start with prefix: ${SYNOPSIS.ls}`, (y) => y.usage(usage('List files whose names start with prefix, a plain string (default: every file).', SYNOPSIS.ls)).example('$0 ls photos/2024/', 'files under photos/2024/').example('$0 ls --json', 'every file, as JSON'), act(1, (_a, words) => ls(words)))
    .command('stat', `show a file's size, SHA-256 and chunk placement: ${SYNOPSIS.stat}`, (y) => y.usage(usage("Show a file's size, SHA-256 and chunk placement.", SYNOPSIS.stat)).example('$0 stat photos/a.jpg --json', 'size, sha256 and the nodes of every chunk'), act(1, (_a, words) => oneName(SYNOPSIS.stat, words, cmd.statCommand)))
    .command('rm', `remove a file: ${SYNOPSIS.rm}`, (y) => y.usage(usage('Remove a file.', SYNOPSIS.rm)).example('$0 rm photos/old.jpg', 'its space comes back after the GC grace period').example('$0 rm -- -draft', 'a name that starts with -'), act(1, (_a, words) => oneName(SYNOPSIS.rm, words, cmd.rmCommand)))
    .command('nodes', 'list storage nodes and their state', (y) => y.example('$0 nodes --json', 'id, address, zone, state, capacity, used, chunks'), act(1, (_a, words) => noWords(SYNOPSIS.nodes, words, cmd.nodesCommand)))
    .command('status', 'cluster totals and replication health', (y) => y.example('$0 status --json', 'nodes, files, bytes, chunks, underReplicated, lost, repair, gc'), act(1, (_a, words) => noWords(SYNOPSIS.status, words, cmd.statusCommand)))
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
          act(2, (a: { scope: 'read' | 'write' | 'admin'; prefix?: string }, words) => {
            bindWords(SYNOPSIS.tokenCreate, words);
            return (ctx) => cmd.tokenCreateCommand(ctx, a.scope, a.prefix);
          }),
        )
        .command('list', 'list tokens (ids, scopes, prefixes, dates; never secrets)', (t) => t.example('$0 token list', 'every token and whether it is revoked'), act(2, (_a, words) => noWords(SYNOPSIS.tokenList, words, cmd.tokenListCommand)))
        .command(
          'revoke',
          `revoke a token; its open connections close at once: ${SYNOPSIS.tokenRevoke}`,
          (t) => t.usage(usage('Revoke a token; its open connections close at once.', SYNOPSIS.tokenRevoke)).example('$0 token revoke 3f2a9c0e11d4b5a6', 'its open connections close at once'),
          act(2, (_a, words) => {
            const [id] = bindWords(SYNOPSIS.tokenRevoke, words);
            return (ctx) => cmd.tokenRevokeCommand(ctx, id);
          }),
        )
        .command('$0', false, (t) => t, (a: ParsedWords) => {
          throw unknownCommand('token', a._.slice(1).map(String), TOKEN_COMMANDS);
        }),
    )
    .command(
      'drain',
      `admin: copy a node's chunks elsewhere so it can be retired (--undo to stop): ${SYNOPSIS.drain}`,
      (y) =>
        y
          .usage(usage("Admin: copy a node's chunks elsewhere so it can be retired; --undo to stop.", SYNOPSIS.drain))
          .option('undo', { type: 'boolean', default: false })
          .example('$0 drain n-4f1c2a9b33e0', 'copy its chunks elsewhere; retire it when status shows nothing under-replicated'),
      act(1, (a: { undo: boolean }, words) => {
        const [node] = bindWords(SYNOPSIS.drain, words);
        return (ctx) => cmd.drainCommand(ctx, node, a.undo);
      }),
    )
    .command(
      'forget',
      `admin: forget a dead node gone for good (no longer listed; its copies unlisted): ${SYNOPSIS.forget}`,
      (y) => y.usage(usage('Admin: forget a dead node gone for good (no longer listed; its copies unlisted).', SYNOPSIS.forget)).example('$0 forget n-4f1c2a9b33e0', 'after it died or was retired: `nodes` and `status` stop counting it'),
      act(1, (_a, words) => {
        const [node] = bindWords(SYNOPSIS.forget, words);
        return (ctx) => cmd.forgetCommand(ctx, node);
      }),
    )
    // No command, or one there is not: say which, and suggest the nearest.
    .command('$0', false, (y) => y, (a: ParsedWords) => {
      throw unknownCommand('', a._.map(String), COMMANDS);
    })
    .strictOptions()
    // populate--: words after `--` stay apart from the options and commands, for positionalWords.
    .parserConfiguration({ 'duplicate-arguments-array': false, 'populate--': true, 'parse-positional-numbers': false })
    .help()
    .version('version', 'show the version: the Cairn protocol this client speaks', `cairn protocol ${PROTOCOL_VERSION}`)
    .exitProcess(false)
    .fail((message, err) => {
      // yargs' own complaints (unknown option, bad choice, unreadable --config) are usage errors, on one line.
      throw isCairnError(err) ? err : new CairnError('E_USAGE', oneLine(message || err?.message || 'usage error'));
    });
}

function put(words: string[]): Action {
  bindWords(SYNOPSIS.put, words);
  const source = localPathArg(words[0], 'the file to put (- for stdin)');
  const name = words.at(1);
  const target = name === undefined ? undefined : nameArg(name);
  return (ctx) => cmd.putCommand(ctx, source, target);
}

function putTree(words: string[]): Action {
  const [dir, prefix] = bindWords(SYNOPSIS.putTree, words);
  const from = treeDirArg('put -r', dir);
  const under = nameArg(prefix, 'prefix');
  return (ctx) => cmd.putTreeCommand(ctx, from, under);
}

/** `get NAME [dest]`; the nx target's `--out` stands for dest. */
function get(words: string[], out: string | undefined): Action {
  bindWords(SYNOPSIS.get, words);
  const name = nameArg(words[0]);
  const dest = words.at(1) ?? out;
  const to = dest === undefined ? undefined : localPathArg(dest, 'the destination of get (- for stdout)');
  return (ctx) => cmd.getCommand(ctx, name, to);
}

function getTree(words: string[]): Action {
  const [prefix, dir] = bindWords(SYNOPSIS.getTree, words);
  const from = nameArg(prefix, 'prefix');
  const into = treeDirArg('get -r', dir);
  return (ctx) => cmd.getTreeCommand(ctx, from, into);
}

function ls(words: string[]): Action {
  bindWords(SYNOPSIS.ls, words);
  const prefix = words.at(0) ?? '';
  return (ctx) => cmd.lsCommand(ctx, prefix);
}

function oneName(synopsis: string, words: string[], command: (ctx: cmd.CommandContext, name: string) => Promise<void>): Action {
  bindWords(synopsis, words);
  const name = nameArg(words[0]);
  return (ctx) => command(ctx, name);
}

function noWords(synopsis: string, words: string[], command: Action): Action {
  bindWords(synopsis, words);
  return command;
}

/** A command's help: its synopses, then what it does. */
function usage(description: string, ...synopses: string[]): string {
  return `${synopses.map((synopsis) => `$0 ${synopsis}`).join('\n')}\n\n${description}`;
}

/** yargs' messages may span lines ("Invalid values:\n  Argument: scope, ..."); an error of the CLI is one line. */
function oneLine(message: string): string {
  return message.replace(/\s*\n\s*/g, ' ').trim();
}

/**
 * The nx targets pass `--file=…` (and `--out=…`); map them onto the positional arguments. Only before
 * `--`: after it, `--file=x` is a name.
 */
function fromNxTarget(commandLine: string[]): string[] {
  const end = commandLine.indexOf('--');
  const argv = end < 0 ? commandLine : commandLine.slice(0, end);
  const afterEnd = end < 0 ? [] : commandLine.slice(end);
  const at = argv.findIndex((a) => a === 'put' || a === 'get');
  if (at < 0 || !argv.some((a) => a === '--file' || a.startsWith('--file='))) return commandLine;
  const before = argv.slice(0, at);
  const [command, ...rest] = argv.slice(at);
  const take = (flag: string) => {
    const i = rest.findIndex((a) => a === `--${flag}` || a.startsWith(`--${flag}=`));
    if (i < 0) return undefined;
    const [arg] = rest.splice(i, 1);
    return arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : rest.splice(i, 1)[0];
  };
  const file = take('file');
  if (file === undefined) return commandLine;
  const out = take('out');
  return [...before, command, file, ...(out !== undefined ? [out] : []), ...rest, ...afterEnd];
}
