import { EventEmitter } from 'node:events';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { decodeFrame, encodeControl, encodeData } from '@cairn/protocol';
import { InboundBudget } from './inbound-budget';
import { RpcPeer, type PeerSocket, type RpcPeerOptions } from './rpc-peer';

const HIGH_WATER = 1000;

/**
 * A WebSocket whose send buffer the test sets: what a peer that stops reading looks like from this
 * side, without depending on how much the kernel's buffers take first.
 */
class StalledSocket extends EventEmitter {
  readyState = 1;
  binaryType = 'nodebuffer';
  bufferedAmount = 0;
  readonly sent: Buffer[] = [];
  pauses = 0;
  resumes = 0;

  send(data: Buffer, _options: unknown, cb?: (err?: Error) => void): void {
    this.sent.push(data);
    cb?.();
  }
  pause(): void {
    this.pauses++;
  }
  resume(): void {
    this.resumes++;
  }
  close(): void {
    this.emit('close', 1000, Buffer.alloc(0));
  }
  terminate(): void {
    this.close();
  }

  get reading(): boolean {
    return this.pauses === this.resumes;
  }

  request(id: number): Buffer {
    const frame = encodeControl('file.stat', id, { name: `file-${id}` });
    this.emit('message', frame, true);
    return frame;
  }
}

const opened: StalledSocket[] = [];
afterEach(() => opened.splice(0).forEach((socket) => socket.close())); // ends each peer's timers

function serve(options: Omit<RpcPeerOptions, 'onRequest'> = {}) {
  const socket = new StalledSocket();
  opened.push(socket);
  const handled: number[] = [];
  const peer = new RpcPeer(socket as unknown as PeerSocket, {
    maxBufferedBytes: HIGH_WATER,
    onRequest: (frame) => {
      handled.push(frame.requestId);
      return { type: 'ack', body: {} };
    },
    ...options,
  });
  return { socket, peer, handled };
}

const until = async (condition: () => boolean) => {
  for (let waited = 0; !condition(); waited += 5) {
    if (waited > 2_000) throw new Error('the condition never came true');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
};

describe('RpcPeer serving a peer that does not read its answers', () => {
  it('stops reading once its send buffer is over the high-water mark, and reads again once it drains', async () => {
    const { socket, handled } = serve();

    socket.request(1);
    await until(() => socket.sent.length === 1);
    expect(socket.reading).toBe(true);

    socket.bufferedAmount = HIGH_WATER + 1; // the peer stopped reading
    socket.request(2);
    socket.request(3); // already read when the pause came: answered in turn, never dropped
    expect(socket.reading).toBe(false);
    expect(socket.pauses).toBe(1);
    await until(() => handled.length === 3);
    expect(socket.sent).toHaveLength(1); // the answers wait for room

    socket.bufferedAmount = 0;
    await until(() => socket.reading);
    await until(() => socket.sent.length === 3);
    expect(handled).toEqual([1, 2, 3]);
  });

  it('never stops reading for the answers to its own requests', async () => {
    const { socket, peer } = serve();
    socket.bufferedAmount = HIGH_WATER + 1; // our own requests fill the buffer: a client sending chunks

    const answer = peer.request('file.stat', { name: 'a' });
    socket.bufferedAmount = 0; // the request goes out
    await until(() => socket.sent.length === 1);
    socket.bufferedAmount = HIGH_WATER + 1;
    socket.emit('message', encodeControl('ack', decodeFrame(socket.sent[0]).requestId, {}), true);

    expect((await answer).type).toBe('ack');
    expect(socket.pauses).toBe(0);
  });

  it('keeps nothing of a request while its answer waits for the socket', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const { socket, handled } = serve();
    socket.bufferedAmount = HIGH_WATER + 1;
    let request: WeakRef<ArrayBuffer> | undefined;
    (() => {
      const [head, chunk] = encodeData('chunk.put', 9, 'ab'.repeat(32), Buffer.alloc(1024 * 1024, 1), 'grant');
      const message = Buffer.concat([head, chunk]);
      request = new WeakRef(message.buffer);
      socket.emit('message', message, true);
    })();
    await until(() => handled.length === 1);
    await new Promise((resolve) => setImmediate(resolve));

    // No deref() before the collections: a deref keeps its target alive until the end of the turn.
    for (let i = 0; i < 3; i++) {
      gc();
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(socket.sent).toHaveLength(0); // the answer still waits
    expect(request?.deref()).toBeUndefined(); // and the chunk it answered is gone
  });

  it('gives a request back to the inbound budget once handled, not once its answer is out', async () => {
    const budget = new InboundBudget(10);
    const recycled: Buffer[] = [];
    const { socket, handled } = serve({ inboundBudget: budget, recycle: (message) => recycled.push(message) });
    socket.bufferedAmount = HIGH_WATER + 1;

    const frame = socket.request(1); // over the budget at once: every connection stops reading
    expect(budget.isOver).toBe(true);
    await until(() => handled.length === 1 && recycled.length === 1);

    // Handled, the answer still waiting: the budget is free again, the bytes given back, but this
    // connection stays paused for its backlog, whatever the budget says.
    expect(budget.heldBytes).toBe(0);
    expect(budget.isOver).toBe(false);
    expect(recycled).toEqual([frame]);
    expect(socket.sent).toHaveLength(0);
    expect(socket.reading).toBe(false);

    socket.bufferedAmount = 0;
    await until(() => socket.sent.length === 1);
    await until(() => socket.reading);
  });
});
