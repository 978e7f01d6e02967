import './young-generation'; // first: it must run before the rest of the CLI is loaded
import { isCairnError, toCairnError } from '@cairn/protocol';
import { CairnClient, createProcessLogger } from '@cairn/transfer';
import { Run, buildCli } from './cli';
import { EXIT, exitCodeFor } from './exit-codes';
import { endOnBrokenPipe } from './broken-pipe';
import { failIfUnfinished } from './unfinished-command';
import { printable } from './format';
import { removeTempFilesOnSignals } from './interrupt';

/** Runs a command against the cluster: a logger on stderr, a CairnClient closed afterwards. */
const run: Run = async (action, settings, command) => {
  // Logs go to stderr, so stdout stays the command's output; at the default level (warn) there are none.
  const log = createProcessLogger({ level: settings.logLevel, format: settings.logFormat, base: { role: 'client' }, destination: 2 });
  const started = Date.now();
  log.info({ command, controller: settings.controller }, 'command started');
  const client = new CairnClient({ controller: settings.controller, ca: settings.ca, requestTimeoutMs: settings.requestTimeoutMs, log });
  try {
    // A progress bar would be torn apart by log lines on the same stderr: logging turns it off.
    await action({ client, json: settings.json, quiet: settings.quiet || log.isLevelEnabled('info'), replicas: settings.replicas, out: process.stdout, err: process.stderr, log });
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

async function main(): Promise<number> {
  try {
    await buildCli(process.argv.slice(2), process.env, run).parseAsync();
    return EXIT.ok;
  } catch (err) {
    const error = toCairnError(err, 'E_INTERNAL');
    // One line, whatever the message holds: it may quote a name, or come from a peer.
    process.stderr.write(`cairn: ${printable(error.message)}${isCairnError(err) ? ` (${error.code})` : ''}\n`);
    return exitCodeFor(error.code);
  }
}

endOnBrokenPipe(process);
removeTempFilesOnSignals();
const command = failIfUnfinished(process, EXIT.failure);
main().then((code) => {
  command.finish();
  process.exitCode = code;
});
