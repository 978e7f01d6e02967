import fc from 'fast-check';
import type WebSocket from 'ws';
import {
  FRAME_HEADER_SIZE,
  MAX_CONTROL_BODY,
  MESSAGES,
  PROTOCOL_VERSION,
  decodeFrame,
  isErrorCode,
  isResponseType,
} from '@cairn/protocol';
import { RawSocketOptions, openSocket } from './raw';

/**
 * Hostile input for the WebSocket endpoints: frame generators (fast-check) and a connection that sends
 * one frame at a time and checks that the process answers it properly (DESIGN.md invariant 7).
 */

const ASSIGNED_TYPES = Object.values(MESSAGES).map((m) => m.code);
const ASSIGNED = new Set<number>(ASSIGNED_TYPES);

export function frameHeader(version: number, type: number, requestId: number, flags = 0): Buffer {
  const header = Buffer.alloc(FRAME_HEADER_SIZE);
  header.writeUInt8(version & 0xff, 0);
  header.writeUInt8(type & 0xff, 1);
  header.writeUInt16BE(flags & 0xffff, 2);
  header.writeUInt32BE(requestId >>> 0, 4);
  return header;
}

const requestId = fc.oneof({ arbitrary: fc.integer({ min: 1, max: 0xffff_ffff }), weight: 9 }, { arbitrary: fc.constant(0), weight: 1 });
const smallBytes = (maxLength: number) => fc.uint8Array({ maxLength }).map((b) => Buffer.from(b));

type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'set'; at: number; value: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; length: number }
  | { kind: 'id'; value: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 16 }) }),
  fc.record({ kind: fc.constant('id' as const), value: fc.integer({ min: 0, max: 0xffff_ffff }) }),
);

function mutate(seed: Buffer, mutations: Mutation[]): Buffer {
  let frame = Buffer.from(seed);
  for (const m of mutations) {
    const at = frame.length === 0 ? 0 : m.kind === 'id' ? 0 : ('at' in m ? m.at : 0) % frame.length;
    switch (m.kind) {
      case 'flip':
        if (frame.length > 0) frame[at] ^= 1 << m.bit;
        break;
      case 'set':
        if (frame.length > 0) frame[at] = m.value;
        break;
      case 'insert':
        frame = Buffer.concat([frame.subarray(0, at), Buffer.from(m.bytes), frame.subarray(at)]);
        break;
      case 'delete':
        frame = Buffer.concat([frame.subarray(0, at), frame.subarray(at + m.length)]);
        break;
      case 'id':
        if (frame.length >= FRAME_HEADER_SIZE) frame.writeUInt32BE(m.value, 4);
        break;
    }
  }
  return frame;
}

/**
 * Frames a hostile or broken peer might send: arbitrary bytes, mutated and truncated valid frames (from
 * `seeds`), wrong versions, reserved flags, unknown types, random JSON under every assigned type,
 * broken data-frame headers, a control body just over MAX_CONTROL_BODY, deeply nested JSON. Frames
 * over MAX_FRAME_SIZE are sent separately (they are 16 MiB each).
 */
export function hostileFrame(seeds: Buffer[]): fc.Arbitrary<Buffer> {
  const seed = fc.constantFrom(...seeds);
  return fc.oneof(
    { weight: 3, arbitrary: smallBytes(600) },
    { weight: 6, arbitrary: fc.tuple(seed, fc.array(mutation, { minLength: 1, maxLength: 5 })).map(([s, m]) => mutate(s, m)) },
    { weight: 2, arbitrary: fc.tuple(seed, fc.nat()).map(([s, n]) => s.subarray(0, n % Math.max(1, s.length))) },
    {
      weight: 2,
      arbitrary: fc
        .tuple(fc.integer({ min: 0, max: 255 }).filter((v) => v !== PROTOCOL_VERSION), fc.constantFrom(...ASSIGNED_TYPES), requestId, smallBytes(64))
        .map(([v, t, id, body]) => Buffer.concat([frameHeader(v, t, id), body])),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.constantFrom(...ASSIGNED_TYPES), requestId, fc.integer({ min: 1, max: 0xffff }))
        .map(([t, id, flags]) => Buffer.concat([frameHeader(PROTOCOL_VERSION, t, id, flags), Buffer.from('{}')])),
    },
    {
      weight: 2,
      arbitrary: fc
        .tuple(fc.integer({ min: 0, max: 255 }).filter((t) => !ASSIGNED.has(t)), requestId, fc.jsonValue({ maxDepth: 2 }))
        .map(([t, id, body]) => Buffer.concat([frameHeader(PROTOCOL_VERSION, t, id), Buffer.from(JSON.stringify(body) ?? '')])),
    },
    {
      weight: 5,
      arbitrary: fc
        .tuple(fc.constantFrom(...ASSIGNED_TYPES), requestId, fc.jsonValue({ maxDepth: 4 }))
        .map(([t, id, body]) => Buffer.concat([frameHeader(PROTOCOL_VERSION, t, id), Buffer.from(JSON.stringify(body) ?? '')])),
    },
    {
      // data frames (chunk.put 0x40, chunk.data 0x43) with random hash, grant length and payload
      weight: 2,
      arbitrary: fc
        .tuple(fc.constantFrom(0x40, 0x43), requestId, smallBytes(40), fc.integer({ min: 0, max: 0xffff }), smallBytes(300))
        .map(([t, id, hash, grantLength, rest]) => {
          const length = Buffer.alloc(2);
          length.writeUInt16BE(grantLength);
          return Buffer.concat([frameHeader(PROTOCOL_VERSION, t, id), hash, length, rest]);
        }),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(fc.constantFrom(...ASSIGNED_TYPES), requestId, fc.integer({ min: 1, max: 64 })).map(([t, id, extra]) =>
        Buffer.concat([frameHeader(PROTOCOL_VERSION, t, id), Buffer.from(`{"x":"${'a'.repeat(MAX_CONTROL_BODY + extra - 8)}"}`)]),
      ),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(fc.constantFrom(...ASSIGNED_TYPES), requestId, fc.integer({ min: 1_000, max: 200_000 })).map(([t, id, depth]) =>
        Buffer.concat([frameHeader(PROTOCOL_VERSION, t, id), Buffer.from('['.repeat(depth) + ']'.repeat(depth))]),
      ),
    },
  );
}

export interface FuzzStats {
  frames: number;
  answered: number;
  /** Frames that decode as responses: a process never answers those (nothing to check but liveness). */
  ignored: number;
  closes: number;
  codes: Record<string, number>;
  closeCodes: Record<string, number>;
}

/** WebSocket close codes that mean an orderly close (normal, going away, protocol error, policy, too big). */
const CLEAN_CLOSE_CODES = new Set([1000, 1001, 1002, 1008, 1009]);

/**
 * One hostile client: sends a frame, then a probe request it knows the answer type of, and waits until
 * either the connection closes cleanly or the probe is answered and — when the frame was a request
 * (anything but a well-formed response) — the frame itself is answered with its request id. Every frame
 * the process sends back must itself be a well-formed frame; error codes must be known codes.
 * Reconnects (and runs `prelude`, e.g. authentication) after each close.
 */
export class FuzzConnection {
  readonly stats: FuzzStats = { frames: 0, answered: 0, ignored: 0, closes: 0, codes: {}, closeCodes: {} };
  private socket: WebSocket | undefined;
  private received: Buffer[] = [];
  private closedWith: number | undefined;
  private wake: (() => void) | undefined;
  private probeCounter = 0;

  constructor(
    private readonly address: string,
    private readonly options: RawSocketOptions & {
      /** A valid request frame with the given id, answered by the process on any connection. */
      probe: (id: number) => Buffer;
      /** Runs after each (re)connect, before fuzzing. */
      prelude?: (socket: WebSocket, next: () => Promise<Buffer>) => Promise<void>;
      answerTimeoutMs?: number;
    },
  ) {}

  async send(frame: Buffer): Promise<'answered' | 'closed' | 'ignored'> {
    const socket = await this.connected();
    this.stats.frames++;
    const id = frame.length >= FRAME_HEADER_SIZE ? frame.readUInt32BE(4) : undefined;
    let isResponse = false;
    try {
      isResponse = isResponseType(decodeFrame(frame).type);
    } catch {
      isResponse = false;
    }
    const probeId = 0xffff_ff00 + (this.probeCounter++ % 200);
    const sendProbe = probeId !== id;
    this.received = [];
    socket.send(frame, { binary: true });
    if (sendProbe && socket.readyState === socket.OPEN) socket.send(this.options.probe(probeId), { binary: true });

    const deadline = Date.now() + (this.options.answerTimeoutMs ?? 10_000);
    for (;;) {
      if (this.closedWith !== undefined) {
        this.stats.closes++;
        this.stats.closeCodes[this.closedWith] = (this.stats.closeCodes[this.closedWith] ?? 0) + 1;
        if (!CLEAN_CLOSE_CODES.has(this.closedWith)) throw new Error(`connection closed uncleanly (${this.closedWith}) after frame ${describe(frame)}`);
        this.socket = undefined;
        return 'closed';
      }
      const ids = this.received.map((m) => this.check(m, frame));
      const probeAnswered = !sendProbe || ids.includes(probeId);
      if (probeAnswered && (isResponse || ids.includes(id as number))) {
        if (isResponse) this.stats.ignored++;
        else this.stats.answered++;
        return isResponse ? 'ignored' : 'answered';
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`no answer and no close within ${this.options.answerTimeoutMs ?? 10_000} ms for frame ${describe(frame)} (got ${this.received.length} frames)`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 1_000));
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** Sends a frame bigger than the process accepts and returns the close code it answers with. */
  async sendOversized(size: number): Promise<number> {
    const socket = await this.connected();
    this.stats.frames++;
    const frame = Buffer.alloc(size);
    frameHeader(PROTOCOL_VERSION, 0x40, 77).copy(frame);
    socket.send(frame, { binary: true });
    const deadline = Date.now() + 15_000;
    while (this.closedWith === undefined) {
      if (Date.now() > deadline) throw new Error(`an oversized frame (${size} bytes) neither answered nor closed`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const code = this.closedWith;
    this.stats.closes++;
    this.stats.closeCodes[code] = (this.stats.closeCodes[code] ?? 0) + 1;
    this.socket = undefined;
    return code;
  }

  close(): void {
    this.socket?.terminate();
    this.socket = undefined;
  }

  /** Validates a frame from the process; returns its request id. */
  private check(message: Buffer, sent: Buffer): number {
    let decoded;
    try {
      decoded = decodeFrame(message);
    } catch (err) {
      throw new Error(`the process sent an undecodable frame (${(err as Error).message}) after ${describe(sent)}`);
    }
    if (decoded.type === 'error') {
      const code = decoded.body.code;
      if (!isErrorCode(code)) throw new Error(`unknown error code ${code}`);
      this.stats.codes[code] = (this.stats.codes[code] ?? 0) + 1;
    } else {
      this.stats.codes[decoded.type] = (this.stats.codes[decoded.type] ?? 0) + 1;
    }
    return decoded.requestId;
  }

  private async connected(): Promise<WebSocket> {
    if (this.socket && this.closedWith === undefined) return this.socket;
    this.closedWith = undefined;
    const socket = await openSocket(this.address, this.options);
    this.received = [];
    socket.on('message', (data: Buffer) => {
      this.received.push(data);
      this.wake?.();
    });
    socket.on('close', (code: number) => {
      this.closedWith = code;
      this.wake?.();
    });
    socket.on('error', () => undefined);
    this.socket = socket;
    if (this.options.prelude) {
      await this.options.prelude(socket, async () => {
        const deadline = Date.now() + 10_000;
        while (this.received.length === 0) {
          if (this.closedWith !== undefined || Date.now() > deadline) throw new Error('closed during the prelude');
          await new Promise((r) => setTimeout(r, 5));
        }
        return this.received.shift() as Buffer;
      });
    }
    this.received = [];
    return socket;
  }
}

function describe(frame: Buffer): string {
  const hex = frame.subarray(0, 48).toString('hex');
  return `[${frame.length} bytes] ${hex}${frame.length > 48 ? '…' : ''}`;
}

/** Samples a value (e.g. a process's RSS) every `intervalMs` until stopped; returns the maximum. */
export function sampleMax(read: () => number, intervalMs = 200): { stop: () => number } {
  let max = read();
  const timer = setInterval(() => {
    try {
      max = Math.max(max, read());
    } catch {
      // the process may be gone; the liveness check reports that
    }
  }, intervalMs);
  return {
    stop: () => {
      clearInterval(timer);
      return max;
    },
  };
}
