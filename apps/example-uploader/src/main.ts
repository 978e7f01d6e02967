import { createServer } from 'node:http';
import { CairnClient, createProcessLogger, runMain, stopOnSignals } from '@cairn/transfer';
import { parseUploaderConfig } from './config';
import { createUploaderHandler } from './server';

/**
 * An HTTP upload service that embeds Cairn the way any Node.js app would: one CairnClient (it picks up
 * CAIRN_TOKEN from the environment by itself), shared by every request.
 */
async function main(): Promise<void> {
  const config = parseUploaderConfig(process.argv.slice(2));
  const log = createProcessLogger({ level: config.logLevel, format: config.logFormat, base: { role: 'example-uploader' } });
  const client = new CairnClient({ controller: config.controller, log });

  const server = createServer(createUploaderHandler(client, log));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;

  stopOnSignals(async (signal) => {
    log.info({ signal }, 'shutting down');
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await client.close();
  });
  // Announced only once a SIGTERM would be handled: a supervisor may stop us as soon as it reads this.
  log.info({ host: config.host, port, controller: config.controller }, 'example-uploader listening');
}

runMain('example-uploader', main);
