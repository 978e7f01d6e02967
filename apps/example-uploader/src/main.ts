import { createServer } from 'node:http';
import { CairnClient, createProcessLogger, runMain } from '@cairn/transfer';
import { parseUploaderConfig } from './config';
import { stopGracefully } from './graceful-stop';
import { InFlightRequests } from './in-flight';
import { createUploaderHandler } from './server';

/**
 * An HTTP upload service that embeds Cairn the way any Node.js app would: one CairnClient (it picks up
 * CAIRN_TOKEN from the environment by itself), shared by every request.
 */
async function main(): Promise<void> {
  const config = parseUploaderConfig(process.argv.slice(2));
  const log = createProcessLogger({ level: config.logLevel, format: config.logFormat, base: { role: 'example-uploader' } });
  const client = new CairnClient({ controller: config.controller, log });

  const requests = new InFlightRequests();
  const server = createServer(createUploaderHandler(client, log, requests));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;

  // The first SIGTERM or SIGINT drains: requests in flight finish (for up to --drain-timeout), then the
  // client closes and the process exits 0. A second one, while draining, exits 1 at once.
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn({ signal, inFlight: requests.size }, 'second signal while draining: stopping at once');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal, inFlight: requests.size, drainMs: config.drainTimeoutMs }, 'shutting down');
    stopGracefully(server, requests, { drainMs: config.drainTimeoutMs, log })
      .then(() => client.close())
      .then(
        () => {
          log.info('stopped');
          process.exit(0);
        },
        (err: unknown) => {
          log.error({ err }, 'failed to stop cleanly');
          process.exit(1);
        },
      );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // Announced only once a SIGTERM would be handled: a supervisor may stop us as soon as it reads this.
  log.info({ host: config.host, port, controller: config.controller }, 'example-uploader listening');
}

runMain('example-uploader', main);
