import { type AddressInfo, type Socket, connect, createServer } from 'node:net';

/** A TCP proxy on 127.0.0.1 standing for a slow network link between a client and a server. */
export interface SlowLink {
  /** Where to connect instead of the server. */
  readonly port: number;
  /** Stops carrying bytes either way, connections left open: a link gone dead without a reset. */
  freeze(): void;
  close(): Promise<void>;
}

/**
 * Carries each connection's bytes to 127.0.0.1:`target` and back at about `bytesPerSecond` each way,
 * by pausing the reading side for as long as what it just passed on would take at that rate. What the
 * proxy does not read waits in the kernel's buffers, so the sender sees a slow link, not a fast one.
 * `target` may be a function, asked at each connection (a server started after the link, told its
 * address: a node's `--advertise`). Only for tests: exported as `@cairn/transfer/testing/slow-link`,
 * from source, not built.
 */
export async function startSlowLink(target: number | (() => number), bytesPerSecond: number): Promise<SlowLink> {
  const sockets = new Set<Socket>();
  let frozen = false;
  const carry = (from: Socket, to: Socket) => {
    let freeAt = Date.now(); // when the bytes passed on so far will have "arrived"
    from.on('data', (bytes) => {
      to.write(bytes);
      freeAt = Math.max(freeAt, Date.now()) + (bytes.length / bytesPerSecond) * 1000;
      from.pause();
      setTimeout(() => frozen || from.destroyed || from.resume(), freeAt - Date.now()).unref();
    });
    from.on('end', () => to.end());
    from.on('close', () => to.destroy());
    from.on('error', () => to.destroy());
  };
  const server = createServer((client) => {
    const upstream = connect(typeof target === 'number' ? target : target(), '127.0.0.1');
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    }
    carry(client, upstream);
    carry(upstream, client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    freeze: () => {
      frozen = true;
      for (const socket of sockets) socket.pause();
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
