import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { Socket, connect as tcpConnect } from 'node:net';
import WebSocket from 'ws';
import { CairnError, FRAME_HEADER_SIZE, Frame, MAX_FRAME_SIZE, MESSAGES, MessageType, PROTOCOL_VERSION, decodeFrame } from '@cairn/protocol';
import { RpcPeer, RpcPeerOptions, toWebSocketUrl } from '@cairn/transfer';

/**
 * Raw access to a Cairn process for tests that must step outside the SDK: WebSockets from a chosen
 * loopback source address (the failed-auth cap and the connection caps count per address), raw TCP,
 * and what /proc says about a process.
 */
export interface RawSocketOptions {
  /** Source address, e.g. '127.0.0.2' (any 127.0.0.0/8 address reaches the loopback listeners). */
  localAddress?: string;
  /** CA certificate (PEM path) to trust for wss://. */
  ca?: string;
  timeoutMs?: number;
}

/** Opens a WebSocket to a process's /ws; rejects with the HTTP status when the upgrade is refused. */
export function openSocket(address: string, options: RawSocketOptions = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(toWebSocketUrl(address), {
      perMessageDeflate: false,
      maxPayload: MAX_FRAME_SIZE,
      handshakeTimeout: options.timeoutMs ?? 10_000,
      localAddress: options.localAddress,
      ca: options.ca ? readFileSync(options.ca) : undefined,
    });
    socket.binaryType = 'nodebuffer';
    socket.once('open', () => resolve(socket));
    socket.once('unexpected-response', (_req, res) => {
      reject(Object.assign(new Error(`upgrade refused: HTTP ${res.statusCode}`), { statusCode: res.statusCode }));
      res.resume();
      socket.on('error', () => undefined);
      socket.terminate();
    });
    socket.once('error', (err) => reject(err));
  });
}

/** An RpcPeer over a raw socket (so the source address can be chosen). */
export async function rawPeer(address: string, options: RawSocketOptions & RpcPeerOptions = {}): Promise<RpcPeer> {
  const socket = await openSocket(address, options);
  return new RpcPeer(socket, { requestTimeoutMs: 10_000, ...options });
}

/** Runs `fn` and returns the CairnError code it failed with (throws if it succeeded or failed otherwise). */
export async function errorCode(fn: () => Promise<unknown>): Promise<string> {
  try {
    await fn();
  } catch (err) {
    if (err instanceof CairnError) return err.code;
    throw err;
  }
  throw new Error('expected a CairnError, but the call succeeded');
}

/** Resident set size of a process, in bytes (VmRSS from /proc/<pid>/status). */
export function rssBytes(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]) * 1024;
}

/** A process's argv as the kernel shows it to everyone on the machine (/proc/<pid>/cmdline). */
export function cmdline(pid: number): string[] {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((a) => a.length > 0);
}

/** Whether a process is still running (not exited, not a zombie). */
export function isRunning(pid: number): boolean {
  try {
    const state = /^State:\s+(\S)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return state !== undefined && state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** A plain GET over HTTP; resolves with the status code. */
export function httpStatus(port: number, path: string, options: { localAddress?: string; timeoutMs?: number } = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, localAddress: options.localAddress, timeout: options.timeoutMs ?? 5_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

export interface RawExchange {
  /** Everything the server sent before it closed or we gave up. */
  response: Buffer;
  /** True when the server closed the connection (FIN or RST), false when we gave up waiting. */
  closed: boolean;
  /** Milliseconds from connect to close (or to giving up). */
  elapsedMs: number;
}

/**
 * Sends `bytes` over a raw TCP connection to 127.0.0.1:`port`, half-closes our side unless told not to,
 * and collects what comes back until the server closes or `timeoutMs` passes.
 */
export function rawTcp(port: number, bytes: Buffer, options: { end?: boolean; timeoutMs?: number; localAddress?: string } = {}): Promise<RawExchange> {
  return new Promise((resolve) => {
    const started = Date.now();
    const chunks: Buffer[] = [];
    const socket: Socket = tcpConnect({ host: '127.0.0.1', port, localAddress: options.localAddress });
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ response: Buffer.concat(chunks), closed, elapsedMs: Date.now() - started });
    };
    const timer = setTimeout(() => finish(false), options.timeoutMs ?? 5_000);
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('close', () => finish(true));
    socket.on('error', () => finish(true));
    socket.on('connect', () => {
      socket.write(bytes);
      if (options.end !== false) socket.end();
    });
  });
}

/**
 * A control frame built by hand, body bytes as given: for what the encoder refuses to send (bad names,
 * invalid UTF-8 inside the JSON).
 */
export function handmadeFrame(type: MessageType, requestId: number, body: string | Buffer): Buffer {
  const header = Buffer.alloc(FRAME_HEADER_SIZE);
  header.writeUInt8(PROTOCOL_VERSION, 0);
  header.writeUInt8(MESSAGES[type].code, 1);
  header.writeUInt16BE(0, 2);
  header.writeUInt32BE(requestId, 4);
  return Buffer.concat([header, typeof body === 'string' ? Buffer.from(body, 'utf8') : body]);
}

/** Sends one raw frame and resolves with the decoded answer carrying the same request id. */
export function exchange(socket: WebSocket, frame: Buffer, timeoutMs = 10_000): Promise<Frame> {
  const id = frame.readUInt32BE(4);
  return new Promise((resolve, reject) => {
    const onMessage = (data: Buffer) => {
      const decoded = decodeFrame(data);
      if (decoded.requestId !== id) return;
      cleanup();
      resolve(decoded);
    };
    const onClose = (code: number) => {
      cleanup();
      reject(new Error(`closed (${code}) before answering request ${id}`));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`no answer to request ${id} within ${timeoutMs} ms`));
    }, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      socket.off('message', onMessage);
      socket.off('close', onClose);
    };
    socket.on('message', onMessage);
    socket.on('close', onClose);
    socket.send(frame, { binary: true });
  });
}

/** The error code of an answer (undefined when it is not an error frame). */
export function answerCode(frame: Frame): string | undefined {
  return frame.type === 'error' ? frame.body.code : undefined;
}

/** A WebSocket message begun over raw TCP and left unfinished (beginMessage). */
export interface BegunMessage {
  /** The close code the server sent, once it closed the connection (undefined if it closed without one). */
  readonly closed: Promise<number | undefined>;
  /** Whether the server has closed the connection yet. */
  readonly isClosed: () => boolean;
  destroy(): void;
}

/**
 * Opens a raw TCP connection to 127.0.0.1:`port` from `localAddress`, completes the WebSocket upgrade,
 * then sends a binary frame's header announcing a message of `length` bytes (masked with a zero key,
 * so the bytes go as they are) and its first bytes, `start`, and nothing more: the message is never
 * finished. For tests of what a server holds for unfinished messages.
 */
export function beginMessage(port: number, localAddress: string, length: number, start: Buffer): Promise<BegunMessage> {
  return new Promise((resolve, reject) => {
    const socket: Socket = tcpConnect({ host: '127.0.0.1', port, localAddress });
    let received = Buffer.alloc(0);
    let upgraded = false;
    let isClosed = false;
    let closeCode: number | undefined;
    const closed = new Promise<number | undefined>((done) =>
      socket.on('close', () => {
        isClosed = true;
        done(closeCode);
      }),
    );
    socket.on('error', (err) => (upgraded ? undefined : reject(err)));
    socket.on('data', (d: Buffer) => {
      received = Buffer.concat([received, d]);
      if (!upgraded) {
        const end = received.indexOf('\r\n\r\n');
        if (end < 0) return;
        if (!received.subarray(0, 12).toString('latin1').startsWith('HTTP/1.1 101')) return reject(new Error(`upgrade refused: ${received.toString('latin1').split('\r\n')[0]}`));
        upgraded = true;
        received = received.subarray(end + 4);
        const header = Buffer.alloc(14);
        header[0] = 0x82; // FIN, binary
        header[1] = 0x80 | 127; // masked, 64-bit length
        header.writeBigUInt64BE(BigInt(length), 2); // and a zero mask key
        socket.write(Buffer.concat([header, start]));
        resolve({ closed, isClosed: () => isClosed, destroy: () => socket.destroy() });
      }
      // A server's close frame: 0x88, a short length, then the code.
      if (closeCode === undefined && received.length >= 4 && received[0] === 0x88) closeCode = received.readUInt16BE(2);
    });
    socket.on('connect', () => {
      socket.write(
        `GET /ws HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
  });
}

/** A metric's value as a process's /metrics gives it (the first sample of that name), or undefined. */
export async function metricValue(port: number, name: string): Promise<number | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}
