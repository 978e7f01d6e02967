import { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { WebSocket, WebSocketServer } from 'ws';
import { sendJoined, webSocketHeader } from './joined-send';

describe('webSocketHeader', () => {
  it('encodes FIN + binary and every length form, with a zero mask key when masked', () => {
    expect([...webSocketHeader(5, false)]).toEqual([0x82, 5]);
    expect([...webSocketHeader(125, true)]).toEqual([0x82, 0x80 | 125, 0, 0, 0, 0]);
    expect([...webSocketHeader(126, false)]).toEqual([0x82, 126, 0, 126]);
    expect([...webSocketHeader(65535, false)]).toEqual([0x82, 126, 0xff, 0xff]);
    expect([...webSocketHeader(65536, true)]).toEqual([0x82, 0x80 | 127, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
  });
});

describe('sendJoined', () => {
  let server: WebSocketServer;
  let serverSide: Promise<WebSocket>;
  let client: WebSocket;

  beforeEach(async () => {
    server = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
    await new Promise((r) => server.once('listening', r));
    serverSide = new Promise((resolve) => server.once('connection', resolve));
    const { port } = server.address() as AddressInfo;
    client = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false, generateMask: () => undefined });
    await new Promise((r) => client.once('open', r));
  });
  afterEach(async () => {
    client.terminate();
    await new Promise((r) => server.close(r));
  });

  const received = (socket: WebSocket, count: number) =>
    new Promise<Buffer[]>((resolve) => {
      const got: Buffer[] = [];
      socket.on('message', (data: Buffer) => {
        got.push(data);
        if (got.length === count) resolve(got);
      });
    });

  it('delivers head + payload as one message, in order with plain sends, both ways', async () => {
    const peer = await serverSide;
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.uint8Array({ maxLength: 64 }), fc.integer({ min: 0, max: 70_000 })), { minLength: 1, maxLength: 6 }), async (messages) => {
        const sent = messages.map(([head, size]) => ({ head: Buffer.from(head), payload: randomBytes(size) }));
        for (const [sender, receiver] of [[client, peer], [peer, client]] as const) {
          const arrival = received(receiver, sent.length * 2);
          for (const { head, payload } of sent) {
            sendJoined(sender, head, payload, (err) => expect(err ?? undefined).toBeUndefined());
            sender.send(Buffer.from('plain'));
          }
          const got = await arrival;
          receiver.removeAllListeners('message');
          sent.forEach(({ head, payload }, i) => {
            expect(got[2 * i].equals(Buffer.concat([head, payload]))).toBe(true);
            expect(got[2 * i + 1].toString()).toBe('plain');
          });
        }
      }),
      { numRuns: 25 },
    );
  });

  it('reports an error through the callback once the socket is closed, like ws.send', async () => {
    client.close();
    await new Promise((r) => client.once('close', r));
    const err = await new Promise<Error | null | undefined>((resolve) => sendJoined(client, Buffer.from('h'), Buffer.from('p'), resolve));
    expect(err).toBeInstanceOf(Error);
  });
});
