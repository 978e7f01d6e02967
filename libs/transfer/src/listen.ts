import type { Server } from 'node:net';
import { CairnError } from '@cairn/protocol';

/** Why a server cannot listen, for the causes that are the user's to fix (a port taken, a wrong --host). */
const USER_CAUSES: Readonly<Record<string, string>> = {
  EADDRINUSE: 'address already in use',
  EADDRNOTAVAIL: 'address not available on this machine',
  EACCES: 'permission denied',
};

/**
 * Listens on `host:port`. A cause the user must fix is a usage error (one line, exit 2, like a data
 * directory in use: `runMain`), never a stack trace; anything else is rethrown as it came. Its error
 * listener goes once the server listens: a later 'error' is the server owner's to hear.
 */
export function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      const cause = USER_CAUSES[err.code ?? ''];
      const where = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
      reject(cause ? new CairnError('E_USAGE', `cannot listen on ${where}: ${cause}`) : err);
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}
