import { type OnReadOpts, Socket } from 'node:net';

/** The parts of a libuv TCP handle this relies on (Node's own `TCPWrap`, not public API). */
interface StreamHandle {
  readStop(): number;
  readStart(): number;
  useUserBuffer(buffer: Uint8Array): void;
  reading: boolean;
}

/** The parts of an accepted net.Socket this relies on, besides the public ones. */
interface AcceptedSocketInternals {
  _handle?: unknown;
  _server?: unknown;
  encrypted?: boolean;
}

function isStreamHandle(handle: unknown): handle is StreamHandle {
  const h = handle as Partial<StreamHandle> | null | undefined;
  return typeof h?.readStop === 'function' && typeof h.readStart === 'function' && typeof h.useUserBuffer === 'function' && typeof h.reading === 'boolean';
}

/**
 * Moves an accepted plain-TCP connection into a new net.Socket that reads through `onread`, into the
 * buffers the caller chooses, as a socket Node connected itself can (LeanWebSocket). An accepted
 * socket can only emit 'data', which hands every read (up to 64 KiB) over in a fresh buffer, copied
 * once more when the read came short: for a node receiving chunks, ~16 000 buffers of garbage per GiB
 * and much of the CPU it spends receiving (docs/performance.md).
 *
 * Node offers no public way to do this, so it relies on internals of Node 20 (the socket's `_handle`
 * and `_server`, the handle's `readStop` and `reading`, the `handle` option of net.Socket); when any
 * of them is missing, or the socket is TLS or has bytes queued either way, it
 * changes nothing and returns undefined: the caller then reads 'data' events, as before. A test fails
 * should a Node release take the fast path away (accepted-websocket.spec.ts).
 *
 * The old socket is left without a handle: it never reads, writes or closes again. The new one takes
 * over the server's count of connections, so `server.close()` still waits for it.
 */
export function takeOverReads(socket: Socket, onread: OnReadOpts): Socket | undefined {
  const old = socket as Socket & AcceptedSocketInternals;
  const handle = old._handle;
  if (!(socket instanceof Socket) || old.encrypted || !isStreamHandle(handle)) return undefined;
  if (socket.readableLength > 0 || socket.writableLength > 0 || socket.destroyed) return undefined;
  socket.setTimeout(0);
  handle.readStop();
  // net.Socket starts reading a handle it is given only if the handle says it is not reading already.
  handle.reading = false;
  const server = old._server;
  old._handle = null;
  old._server = null;
  const taken = new Socket({ handle, onread } as ConstructorParameters<typeof Socket>[0]) as Socket & AcceptedSocketInternals;
  taken._server = server;
  return taken;
}
