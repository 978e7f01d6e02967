import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CairnError, PROTOCOL_VERSION } from '@cairn/protocol';
import * as cmd from './commands';
import { Run, buildCli } from './cli';
import { GlobalSettings } from './global-options';

jest.mock('./commands');
const commands = jest.mocked(cmd);

/** The command context the fake run hands every action; the mocked commands only record it. */
const CTX = {} as cmd.CommandContext;

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cairn-cli-'));
  jest.clearAllMocks();
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Parses a command line as `cairn` does, with `env` as the whole environment (XDG_CONFIG_HOME in the
 * test's own directory, so no config file of the machine is read) and a run that records the global
 * settings instead of connecting anywhere. Returns the runs.
 */
async function parse(commandLine: string[], env: NodeJS.ProcessEnv = {}): Promise<Array<{ settings: GlobalSettings; command: string }>> {
  const runs: Array<{ settings: GlobalSettings; command: string }> = [];
  const run: Run = async (action, settings, command) => {
    runs.push({ settings, command });
    await action(CTX);
  };
  await buildCli(commandLine, { XDG_CONFIG_HOME: dir, ...env }, run).parseAsync();
  return runs;
}

/** The one settings a command line ran with. */
async function settingsOf(commandLine: string[], env: NodeJS.ProcessEnv = {}): Promise<GlobalSettings> {
  const runs = await parse(commandLine, env);
  expect(runs).toHaveLength(1);
  return runs[0].settings;
}

/** The usage error a command line fails with, as `cairn: <message> (<code>)` would show it; nothing ran. */
async function usageError(commandLine: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  const failure = await parse(commandLine, env).then(
    () => new Error(`${commandLine.join(' ')} ran`),
    (err: unknown) => err,
  );
  expect(failure).toBeInstanceOf(CairnError);
  expect((failure as CairnError).code).toBe('E_USAGE');
  for (const command of Object.values(commands).filter(jest.isMockFunction)) expect(command).not.toHaveBeenCalled();
  return (failure as CairnError).message;
}

/** A config file in the test's directory holding `values`; returns its path. */
function configFile(values: unknown): string {
  const path = join(dir, 'client.json');
  writeFileSync(path, JSON.stringify(values));
  return path;
}

/** What yargs wrote with console.log (help, version) while `work` ran. */
async function printed(work: () => Promise<unknown>): Promise<string> {
  const log = jest.spyOn(console, 'log').mockImplementation(() => undefined);
  try {
    await work();
    return log.mock.calls.map((args) => args.join(' ')).join('\n');
  } finally {
    log.mockRestore();
  }
}

describe('arguments after --', () => {
  it('are names however they start: put stores report.txt as -draft', async () => {
    await parse(['put', 'report.txt', '--', '-draft']);
    expect(commands.putCommand).toHaveBeenCalledWith(CTX, 'report.txt', '-draft');
  });

  it.each([
    ['stat', commands.statCommand],
    ['cat', commands.catCommand],
    ['rm', commands.rmCommand],
  ] as const)('reach %s', async (command, fn) => {
    await parse([command, '--', '-lead']);
    expect(fn).toHaveBeenCalledWith(CTX, '-lead');
  });

  it('fill every argument of get and put, and the prefix of ls', async () => {
    await parse(['get', '--', '-lead', 'x']);
    expect(commands.getCommand).toHaveBeenCalledWith(CTX, '-lead', 'x');
    await parse(['put', '--', '-a', '-b']);
    expect(commands.putCommand).toHaveBeenCalledWith(CTX, '-a', '-b');
    await parse(['ls', '--', '-le']);
    expect(commands.lsCommand).toHaveBeenCalledWith(CTX, '-le');
  });

  it('follow the words before --, and are never options', async () => {
    const settings = await settingsOf(['--json', 'rm', '--', '--quiet']);
    expect(commands.rmCommand).toHaveBeenCalledWith(CTX, '--quiet');
    expect(settings).toMatchObject({ json: true, quiet: false });
  });

  it.each([
    [['nodes', 'x'], 'nodes takes no argument "x" there (cairn nodes)'],
    [['nodes', '--', 'x'], 'nodes takes no argument "x" there (cairn nodes)'],
    [['status', '--', '-v'], 'status takes no argument "-v" there (cairn status)'],
    [['put', 'a', 'b', 'c'], 'put takes no argument "c" there (cairn put <file|-> [name])'],
    [['put', 'a', 'b', '--', 'c'], 'put takes no argument "c" there (cairn put <file|-> [name])'],
    [['ls', 'a', '--', 'b'], 'ls takes no argument "b" there (cairn ls [prefix])'],
    [['rm', 'a', 'b'], 'rm takes no argument "b" there (cairn rm <name>)'],
    [['token', 'list', 'x'], 'token list takes no argument "x" there (cairn token list)'],
    [['token', 'create', '--scope', 'read', '--', 'x'], 'token create takes no argument "x" there (cairn token create)'],
  ])('one too many is a usage error, never dropped: %j', async (commandLine, message) => {
    expect(await usageError(commandLine)).toBe(message);
  });

  it.each([
    [['stat'], 'stat needs <name> (cairn stat <name>)'],
    [['get'], 'get needs <name> (cairn get <name> [dest|-])'],
    [['token', 'revoke'], 'token revoke needs <id> (cairn token revoke <id>)'],
  ])('one too few names what is missing: %j', async (commandLine, message) => {
    expect(await usageError(commandLine)).toBe(message);
  });
});

describe('stdin, stdout and -', () => {
  it('put - reads stdin and get NAME - writes stdout, as before', async () => {
    await parse(['put', '-', 'notes/a.txt']);
    expect(commands.putCommand).toHaveBeenCalledWith(CTX, '-', 'notes/a.txt');
    await parse(['get', 'notes/a.txt', '-']);
    expect(commands.getCommand).toHaveBeenCalledWith(CTX, 'notes/a.txt', '-');
  });

  it.each([
    [['put', 'f/z1', '-']],
    [['cat', '-']],
    [['stat', '-']],
    [['rm', '-']],
    [['get', '-']],
    [['get', '-', 'out.txt']],
  ])('- is not a name: %j', async (commandLine) => {
    expect(await usageError(commandLine)).toBe('"-" is not a name: it means stdin or stdout, and only as the file of put or the destination of get');
  });

  it('an empty file or destination is refused, not taken for the current directory', async () => {
    expect(await usageError(['put', '', 'x'])).toBe('the file to put (- for stdin) must not be empty');
    expect(await usageError(['get', 'x', ''])).toBe('the destination of get (- for stdout) must not be empty');
  });

  it('an empty name reaches the name check, which says it is empty', async () => {
    await parse(['cat', '']);
    expect(commands.catCommand).toHaveBeenCalledWith(CTX, '');
  });
});

describe('put -r and get -r', () => {
  it('take a directory and a prefix', async () => {
    await parse(['put', '-r', './site', 'backups/site']);
    expect(commands.putTreeCommand).toHaveBeenCalledWith(CTX, './site', 'backups/site');
    await parse(['get', 'backups/site', './restore', '--recursive']);
    expect(commands.getTreeCommand).toHaveBeenCalledWith(CTX, 'backups/site', './restore');
  });

  it.each([
    [['put', '-r', '-', 'p'], 'put -r needs a directory, not -: a tree cannot come from stdin'],
    [['put', '-r', '', 'p'], 'the directory of put -r must not be empty'],
    [['get', '-r', 'p', '-'], 'get -r needs a directory, not -: a tree cannot go to stdout'],
    [['get', '-r', 'p', ''], 'the directory of get -r must not be empty'],
    [['put', '-r', 'tree', '-'], '"-" is not a prefix: it means stdin or stdout, and only as the file of put or the destination of get'],
  ])('refuse - or "" for a directory: %j', async (commandLine, message) => {
    expect(await usageError(commandLine)).toBe(message);
  });

  it.each([
    [['put', '-r', 'tree'], 'put -r needs <prefix> (cairn put -r <dir> <prefix>)'],
    [['put', '-r'], 'put -r needs <dir> (cairn put -r <dir> <prefix>)'],
    [['get', '-r', 't1'], 'get -r needs <dir> (cairn get -r <prefix> <dir>)'],
    [['get', '-r'], 'get -r needs <prefix> (cairn get -r <prefix> <dir>)'],
    [['put', '-r', 'a', 'b', 'c'], 'put -r takes no argument "c" there (cairn put -r <dir> <prefix>)'],
  ])('need both arguments, and say which is missing: %j', async (commandLine, message) => {
    expect(await usageError(commandLine)).toBe(message);
  });

  it('take an explicitly empty prefix for the root of the names', async () => {
    await parse(['put', '-r', 'tree', '']);
    expect(commands.putTreeCommand).toHaveBeenCalledWith(CTX, 'tree', '');
  });
});

describe('--timeout', () => {
  it('takes durations up to what a Node timer takes', async () => {
    expect((await settingsOf(['ls', '--timeout', '24d'])).requestTimeoutMs).toBe(24 * 86_400_000);
    expect((await settingsOf(['ls'])).requestTimeoutMs).toBeUndefined();
  });

  it('refuses longer, naming where the value came from', async () => {
    expect(await usageError(['ls', '--timeout', '25d'])).toBe('--timeout must be at most 24.8d, got 25d');
    expect(await usageError(['ls'], { CAIRN_TIMEOUT: '25d' })).toBe('CAIRN_TIMEOUT must be at most 24.8d, got 25d');
    const path = configFile({ timeout: '25d' });
    expect(await usageError(['ls', '--config', path])).toBe(`timeout in config file ${path} must be at most 24.8d, got 25d`);
    expect(await usageError(['ls', '--timeout=500ms'])).toBe('--timeout must be at least 1s, got 500ms');
  });

  it('a flag wins over the environment, so only its value is checked', async () => {
    expect((await settingsOf(['ls', '--timeout', '5s'], { CAIRN_TIMEOUT: '25d' })).requestTimeoutMs).toBe(5000);
  });
});

describe('the config file', () => {
  it.each([
    [{ controller: 1234 }, 'controller must be a string, not a number'],
    [{ controller: ['a'] }, 'controller must be a string, not an array'],
    [{ timeout: {} }, 'timeout must be a duration (a string such as "30s", or a number of milliseconds), not an object'],
    [{ ca: 5 }, 'ca must be a string, not a number'],
    [{ json: 'yes' }, 'json must be a boolean, not a string'],
    [{ replicas: '2' }, 'replicas must be a number, not a string'],
    [{ quiet: null }, 'quiet must be a boolean, not null'],
  ])('refuses a value of the wrong type, naming the file and the key: %j', async (values, message) => {
    const path = configFile(values);
    expect(await usageError(['ls', '--config', path])).toBe(`config file ${path}: ${message}`);
  });

  it('takes a timeout as a duration or, as the flag takes a bare number, milliseconds', async () => {
    expect((await settingsOf(['ls', '--config', configFile({ timeout: 30_000 })])).requestTimeoutMs).toBe(30_000);
    expect((await settingsOf(['ls', '--config', configFile({ timeout: '2m' })])).requestTimeoutMs).toBe(120_000);
  });

  it('refuses a key that is no global option', async () => {
    const path = configFile({ contoller: 'a:1' });
    expect(await usageError(['ls', '--config', path])).toMatch(new RegExp(`^config file ${path}: unknown key "contoller" \\(the keys are the global options: controller, json, `));
  });

  it('gives every global option, in either spelling, below the environment and the flags', async () => {
    const path = configFile({ controller: 'c.example:1', json: true, replicas: 3, logLevel: 'error', 'log-format': 'pretty' });
    expect(await settingsOf(['ls', '--config', path])).toMatchObject({ controller: 'c.example:1', json: true, replicas: 3, logLevel: 'error', logFormat: 'pretty' });
    expect(await settingsOf(['ls'], { CAIRN_CONFIG: path, CAIRN_CONTROLLER: 'e.example:2' })).toMatchObject({ controller: 'e.example:2', replicas: 3 });
    expect(await settingsOf(['ls', '--controller', 'f.example:3', '--replicas=1'], { CAIRN_CONFIG: path, CAIRN_CONTROLLER: 'e.example:2' })).toMatchObject({ controller: 'f.example:3', replicas: 1 });
  });

  it('a value out of range is named by where it came from', async () => {
    const path = configFile({ replicas: 99, ca: join(dir, 'missing.pem') });
    expect(await usageError(['ls', '--config', path])).toMatch(new RegExp(`^replicas in config file ${path} must be an integer from 1 to \\d+$`));
    expect(await usageError(['ls', '--config', path, '--replicas', '2'])).toMatch(new RegExp(`^cannot read the CA file ${dir}/missing.pem \\(ca in config file ${path}\\): `));
  });
});

describe('the environment', () => {
  it('names the variable a bad value came from', async () => {
    expect(await usageError(['ls'], { CAIRN_REPLICAS: 'abc' })).toMatch(/^CAIRN_REPLICAS must be an integer from 1 to \d+$/);
    expect(await usageError(['ls', '--replicas', '0'], { CAIRN_REPLICAS: '2' })).toMatch(/^--replicas must be an integer from 1 to \d+$/);
    expect(await usageError(['ls'], { CAIRN_CA: join(dir, 'missing.pem') })).toMatch(/^cannot read the CA file .*missing\.pem \(CAIRN_CA\): /);
  });

  it.each(['1', 'yes', 'TRUE', 'true', 'Yes'])('turns a switch on with %j', async (value) => {
    expect(await settingsOf(['ls'], { CAIRN_JSON: value, CAIRN_QUIET: value })).toMatchObject({ json: true, quiet: true });
  });

  it.each(['0', 'no', 'FALSE'])('turns a switch off with %j', async (value) => {
    expect(await settingsOf(['ls', '--config', configFile({ json: true })], { CAIRN_JSON: value })).toMatchObject({ json: false });
  });

  it('refuses any other word for a switch, naming the variable', async () => {
    expect(await usageError(['ls'], { CAIRN_JSON: 'maybe' })).toBe('CAIRN_JSON must be true or false (or 1/0, yes/no), got "maybe"');
  });

  it('loses to a flag', async () => {
    expect(await settingsOf(['ls', '--no-json'], { CAIRN_JSON: '1' })).toMatchObject({ json: false });
  });
});

describe('usage messages', () => {
  it('say a command is unknown, and suggest the nearest', async () => {
    expect(await usageError(['bogus'])).toBe('unknown command "bogus"; did you mean nodes?');
    expect(await usageError(['sta'])).toBe('unknown command "sta"; did you mean stat?');
    expect(await usageError(['frobnicate'])).toBe('unknown command "frobnicate" (see --help)');
    expect(await usageError(['token', 'lsit'])).toBe('unknown command "token lsit"; did you mean token list?');
  });

  it('ask for a command when there is none', async () => {
    expect(await usageError([])).toBe('name a command (see --help)');
    expect(await usageError(['--json'])).toBe('name a command (see --help)');
    expect(await usageError(['token'])).toBe('token needs a command: create | list | revoke');
  });

  it('name an unknown option, even before the command', async () => {
    expect(await usageError(['--nosuchflag', 'ls'])).toMatch(/nosuchflag/);
    expect(await usageError(['ls', '--nosuchflag'])).toMatch(/nosuchflag/);
  });

  it('are one line, even where yargs writes several', async () => {
    const message = await usageError(['token', 'create', '--scope', 'bogus']);
    expect(message).not.toMatch(/\n/);
    expect(message).toMatch(/scope.*bogus.*read.*write.*admin/);
  });
});

describe('--version and --help', () => {
  it('--version prints one line and runs nothing', async () => {
    let runs: unknown[] = [];
    const out = await printed(async () => (runs = await parse(['--version'])));
    expect(out).toBe(`cairn protocol ${PROTOCOL_VERSION}`);
    expect(runs).toEqual([]);
  });

  it('--help tells of CAIRN_TOKEN, the environment and the precedence', async () => {
    const out = (await printed(() => parse(['--help']))).replace(/\s+/g, ' ');
    expect(out).toMatch(/CAIRN_TOKEN in the environment only, never from a flag/);
    expect(out).toMatch(/A flag wins over the environment, the environment over the config file, the config file over the default/);
    expect(out).toMatch(/--version/);
    for (const command of ['put', 'get', 'cat', 'ls', 'stat', 'rm', 'nodes', 'status', 'token', 'drain', 'forget']) expect(out).toMatch(new RegExp(`cairn ${command} `));
    expect(out).toMatch(/--config JSON config file with any of the global options \(CAIRN_CONFIG\)/);
  });

  it('a command\'s --help shows its arguments and runs nothing', async () => {
    const out = await printed(() => parse(['put', '--help']));
    expect(out).toMatch(/cairn put <file\|-> \[name\]\ncairn put -r <dir> <prefix>/);
    expect(commands.putCommand).not.toHaveBeenCalled();
  });
});

describe('the nx targets', () => {
  it('map --file and --out onto the arguments', async () => {
    await parse(['get', '--file=notes/a.txt', '--out', 'copy.txt']);
    expect(commands.getCommand).toHaveBeenCalledWith(CTX, 'notes/a.txt', 'copy.txt');
    await parse(['put', '--file', 'a.txt']);
    expect(commands.putCommand).toHaveBeenCalledWith(CTX, 'a.txt', undefined);
  });

  it('leave a --file= after -- alone: it is a name', async () => {
    await parse(['put', 'a.txt', '--', '--file=x']);
    expect(commands.putCommand).toHaveBeenCalledWith(CTX, 'a.txt', '--file=x');
  });
});

it('names the command words for the logs, never the arguments', async () => {
  expect((await parse(['token', 'revoke', '3f2a9c0e11d4b5a6']))[0].command).toBe('token revoke');
  expect((await parse(['put', 'a.txt', 'secret/name']))[0].command).toBe('put');
});
