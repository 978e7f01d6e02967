import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { listen } from './listen';

const close = (server: Server) => new Promise((resolve) => server.close(resolve));

describe('listen', () => {
  it('says in one line, as a usage error, that the address is in use', async () => {
    const taken = createServer();
    await listen(taken, '127.0.0.1', 0);
    const { port } = taken.address() as AddressInfo;
    const second = createServer();
    try {
      await expect(listen(second, '127.0.0.1', port)).rejects.toMatchObject({
        code: 'E_USAGE',
        message: `cannot listen on 127.0.0.1:${port}: address already in use`,
      });
    } finally {
      await close(taken);
    }
  });
});
