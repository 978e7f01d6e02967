import { Socket } from 'node:net';

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

/** How the connection is read once taken over. */
export interface OwnReads {
  /** The buffer the next read should fill (net's `onread.buffer`, asked again after every read). */
  buffer: () => Uint8Array;
  /** `n` bytes were read into it; false would pause the socket. */
  callback: (n: number) => boolean;
  /** Given every read instead, as 'data', should this Node take the socket but ignore `onread`. */
  fallback: (bytes: Buffer) => void;
}

export interface TakenOver {
  socket: Socket;
  /** Whether `onread` took effect (else reads go to `fallback`). */
  readsIntoOwnBuffers: boolean;
}

/**
 * Moves an accepted plain-TCP connection into a new net.Socket that reads through `onread`, into the
 * buffers the caller chooses, as a socket Node connected itself can (LeanWebSocket). An accepted
 * socket can only emit 'data', which hands every read (up to 64 KiB) over in a fresh buffer, copied
 * once more when the read came short: for a node receiving chunks, ~16 000 buffers of garbage per GiB
 * and much of the CPU it spends receiving (docs/performance.md).
 *
 * Node offers no public way to do this, so it relies on internals of Node 20 (the socket's `_handle`
 * and `_server`, the handle's `readStop` and `reading`, the `handle` and `manualStart` options of
 * net.Socket); when any of them is missing, or the socket is TLS or has bytes queued either way, it
 * changes nothing and returns undefined: the caller then reads 'data' events, as before. A test fails
 * should a Node release take the fast path away (accepted-websocket.spec.ts).
 *
 * The new socket takes over the server's count of connections, so `server.close()` still waits for
 * it. The old one is left without a handle and destroyed: an HTTP response still due on it (a request
 * pipelined before the upgrade) is dropped instead of failing on a closed socket with nobody
 * listening for the error, which would end the process.
 */
export function takeOverReads(socket: Socket, reads: OwnReads): TakenOver | undefined {
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
  // Node asks for the first buffer while it builds the socket: if it never does, `onread` was ignored.
  let asked = false;
  const onread = { buffer: () => ((asked = true), reads.buffer()), callback: reads.callback };
  const options = { handle, onread, manualStart: true };
  const taken = new Socket(options as ConstructorParameters<typeof Socket>[0]) as Socket & AcceptedSocketInternals;
  // Before it reads: a failure to start reading destroys it, which must count it off the server.
  taken._server = server;
  old.on('error', () => undefined);
  old.destroy();
  if (!asked) taken.on('data', reads.fallback);
  taken.read(0);
  return { socket: taken, readsIntoOwnBuffers: asked };
}
