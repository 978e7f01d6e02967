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

  it('leaves no error listener of its own once listening: a later error is not swallowed', async () => {
    const server = createServer();
    await listen(server, '127.0.0.1', 0);
    try {
      expect(server.listenerCount('error')).toBe(0);
      // With no listener of the owner's, an 'error' throws (and would end the process), as Node means it to.
      const later = new Error('later');
      expect(() => server.emit('error', later)).toThrow(/later/);
    } finally {
      await close(server);
    }
  });
});
