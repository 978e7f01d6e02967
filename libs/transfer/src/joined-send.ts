import { WebSocket } from 'ws';

/** The parts of `ws` this relies on (ws 8, pinned in package.json; checked at run time, see below). */
interface WsInternals {
  _isServer?: boolean;
  _sender?: { _state?: number; sendFrame?: (list: Buffer[], cb?: (err?: Error | null) => void) => void };
}

/** ws's Sender state when it has nothing queued (no compression or blob read in progress). */
const SENDER_IDLE = 0;

/**
 * Sends `head` then `payload` as ONE binary WebSocket message without joining them into a new buffer.
 * `ws.send` takes one buffer, so a data frame (our header + a chunk of up to 16 MiB) would cost a copy
 * of the chunk per replica. Here the WebSocket frame header is written by hand (RFC 6455 §5.2) and
 * handed, with our header, to ws's own frame writer, which writes both pieces in one corked write, in
 * order with every other message on the socket.
 *
 * This uses two private members of ws, so it checks they are there and falls back to a joined copy
 * otherwise (a future ws). A client-side frame is marked masked with an all-zero key, which is what
 * `connectPeer` asks ws for anyway (its `generateMask`): the payload goes out as it is.
 */
export function sendJoined(socket: WebSocket, head: Uint8Array, payload: Uint8Array, cb: (err?: Error | null) => void): void {
  const internals = socket as unknown as WsInternals;
  const sender = internals._sender;
  if (socket.readyState !== WebSocket.OPEN || typeof sender?.sendFrame !== 'function' || sender._state !== SENDER_IDLE || typeof internals._isServer !== 'boolean') {
    socket.send(Buffer.concat([head, payload]), { binary: true }, cb);
    return;
  }
  const frameHead = webSocketHeader(head.length + payload.length, !internals._isServer);
  sender.sendFrame([Buffer.concat([frameHead, head]), toBuffer(payload)], cb);
}

/** WebSocket opcode of a binary message (RFC 6455 §5.2). */
const BINARY = 0x2;

/** FIN + `opcode` (binary by default), the payload length in its shortest form, and (client side) a zero mask key. */
export function webSocketHeader(length: number, masked: boolean, opcode = BINARY): Buffer {
  const lengthBytes = length < 126 ? 0 : length < 65536 ? 2 : 8;
  const header = Buffer.alloc(2 + lengthBytes + (masked ? 4 : 0)); // zero-filled: the mask key is 0
  header[0] = 0x80 | opcode;
  header[1] = (masked ? 0x80 : 0) | (lengthBytes === 0 ? length : lengthBytes === 2 ? 126 : 127);
  if (lengthBytes === 2) header.writeUInt16BE(length, 2);
  if (lengthBytes === 8) header.writeBigUInt64BE(BigInt(length), 2);
  return header;
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
