import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { connectPeer } from './connect';
import type { RpcPeer } from './rpc-peer';
import { settledBacklog } from './testing/settled-backlog';

const MiB = 1024 * 1024;

describe('connectPeer over ws: pings', () => {
  let server: WebSocketServer;
  let peer: RpcPeer | undefined;

  beforeEach(async () => {
    server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await once(server, 'listening');
  });

  afterEach(async () => {
    peer?.close();
    for (const client of server.clients) client.terminate();
    await new Promise((resolve) => server.close(resolve));
  });

  /** Connects, and returns the client's `ws` socket and the server's end of it. */
  async function connect(): Promise<{ client: WebSocket; remote: WebSocket }> {
    const accepted = once(server, 'connection');
    peer = await connectPeer(`127.0.0.1:${(server.address() as AddressInfo).port}`);
    const [remote] = (await accepted) as [WebSocket];
    return { client: peer.socket as unknown as WebSocket, remote };
  }

  it('answers a ping with a pong carrying the same bytes', async () => {
    const { remote } = await connect();
    const pong = once(remote, 'pong');
    remote.ping(Buffer.from('are you there'));
    expect(String((await pong)[0])).toBe('are you there');
  });

  it('leaves pings unanswered while its peer is not reading what waits to be sent', async () => {
    const { client, remote } = await connect();
    remote.pause(); // reads nothing from here on
    client.send(Buffer.alloc(24 * MiB, 1)); // more than the kernel's buffers take: the rest waits here
    const settled = await settledBacklog(client);
    expect(settled).toBeGreaterThan(MiB);

    let pings = 0;
    client.on('ping', () => pings++);
    for (let i = 0; i < 2000; i++) remote.ping(Buffer.alloc(125, i));
    while (pings < 2000) await new Promise((resolve) => setTimeout(resolve, 5));

    // Each ping answered would have queued a pong here: a peer that pings and never reads must not grow us.
    expect(client.bufferedAmount).toBeLessThanOrEqual(settled);
  });
});
