import fc from 'fast-check';
import { CLOSE_CODE, FrameReader, OPCODE, type ReaderRole, WebSocketFrameError } from './websocket-frame-reader';

interface Received {
  messages: Array<{ data: Buffer; isBinary: boolean }>;
  controls: Array<{ opcode: number; payload: Buffer }>;
}

function reader(maxPayload = 1 << 20, role: ReaderRole = 'client'): { reader: FrameReader; got: Received } {
  const got: Received = { messages: [], controls: [] };
  const r = new FrameReader(
    maxPayload,
    {
      onMessage: (data, isBinary) => got.messages.push({ data, isBinary }),
      onControl: (opcode, payload) => got.controls.push({ opcode, payload }),
    },
    undefined,
    role,
  );
  return { reader: r, got };
}

/**
 * A frame (RFC 6455 §5.2) as a server writes it (unmasked) or, with `mask`, as a client does: the
 * payload XORed with the 4-byte key (`maskKey`, zero by default). The length in its shortest form unless told.
 */
function frame(opcode: number, payload: Uint8Array, options: { fin?: boolean; rsv?: number; mask?: boolean; maskKey?: number; length?: number } = {}): Buffer {
  const length = options.length ?? payload.length;
  const extra = length < 126 ? 0 : length < 65536 ? 2 : 8;
  const head = Buffer.alloc(2 + extra + (options.mask ? 4 : 0));
  head[0] = ((options.fin ?? true) ? 0x80 : 0) | ((options.rsv ?? 0) << 4) | opcode;
  head[1] = (options.mask ? 0x80 : 0) | (extra === 0 ? length : extra === 2 ? 126 : 127);
  if (extra === 2) head.writeUInt16BE(length, 2);
  if (extra === 8) head.writeBigUInt64BE(BigInt(length), 2);
  if (!options.mask) return Buffer.concat([head, payload]);
  const key = options.maskKey ?? 0;
  head.writeUInt32BE(key, 2 + extra);
  const masked = Buffer.from(payload);
  for (let i = 0; i < masked.length; i++) masked[i] ^= head[2 + extra + (i % 4)];
  return Buffer.concat([head, masked]);
}

/** Plays `stream` through the reader as a socket with `onread` would: each read fills part of the buffer it is given. */
function readInPieces(r: FrameReader, stream: Buffer, sizes: number[]): void {
  let at = 0;
  for (let i = 0; at < stream.length; i++) {
    const into = r.nextBuffer();
    const n = Math.min(sizes.length ? sizes[i % sizes.length] : into.length, into.length, stream.length - at);
    stream.copy(into, 0, at, at + n);
    at += n;
    r.bytesRead(n);
  }
}

/** Plays `stream` through the reader as a socket's 'data' events would (a server's accepted socket): pieces of `sizes`, in turn. */
function feedInPieces(r: FrameReader, stream: Buffer, sizes: number[]): void {
  for (let at = 0, i = 0; at < stream.length; i++) {
    const n = sizes.length ? sizes[i % sizes.length] : 65_536;
    r.feed(stream.subarray(at, at + n));
    at += n;
  }
}

/** Bytes that differ from position to position, so a misplaced or unmasked byte shows. */
function pattern(length: number): Buffer {
  return Buffer.from(Uint8Array.from({ length }, (_, i) => (i * 131 + (i >> 8)) & 0xff));
}

function expectFrameError(fn: () => void, closeCode: number, message: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(WebSocketFrameError);
  expect((caught as WebSocketFrameError).closeCode).toBe(closeCode);
  expect((caught as WebSocketFrameError).message).toMatch(message);
}

const message = fc.record({
  data: fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 60_000, max: 200_000 }).map((n) => new Uint8Array(n).map((_, i) => (i * 31) & 0xff))),
  isBinary: fc.boolean(),
  /** Cut points of its fragments, as fractions of its length. */
  cuts: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 3 }),
  pingBefore: fc.option(fc.uint8Array({ maxLength: 125 }), { nil: undefined }),
  pingInside: fc.option(fc.uint8Array({ maxLength: 20 }), { nil: undefined }),
});

describe('FrameReader', () => {
  it('yields every message whole and in order, however it is fragmented, interleaved with pings and cut into reads', () => {
    fc.assert(
      fc.property(fc.array(message, { maxLength: 6 }), fc.array(fc.integer({ min: 1, max: 100_000 }), { maxLength: 5 }), (messages, sizes) => {
        const parts: Buffer[] = [];
        const pings: Uint8Array[] = [];
        for (const m of messages) {
          if (m.pingBefore) {
            parts.push(frame(OPCODE.ping, m.pingBefore));
            pings.push(m.pingBefore);
          }
          const cuts = [...new Set(m.cuts.map((c) => Math.floor(c * m.data.length)))].sort((a, b) => a - b);
          const bounds = [0, ...cuts, m.data.length];
          for (let i = 0; i + 1 < bounds.length; i++) {
            const opcode = i === 0 ? (m.isBinary ? OPCODE.binary : OPCODE.text) : OPCODE.continuation;
            parts.push(frame(opcode, m.data.subarray(bounds[i], bounds[i + 1]), { fin: i + 2 === bounds.length }));
            if (i === 0 && bounds.length > 2 && m.pingInside) {
              parts.push(frame(OPCODE.ping, m.pingInside)); // control frames may come between fragments
              pings.push(m.pingInside);
            }
          }
        }
        const { reader: r, got } = reader();
        readInPieces(r, Buffer.concat(parts), sizes);
        // Compared as hex: jest's deep equality walks a 200 KB array byte by byte, slowly.
        expect(got.messages.map((g) => [g.data.toString('hex'), g.isBinary])).toEqual(messages.map((m) => [Buffer.from(m.data).toString('hex'), m.isBinary]));
        expect(got.controls.map((c) => c.payload.toString('hex'))).toEqual(pings.map((p) => Buffer.from(p).toString('hex')));
      }),
      { numRuns: 150 },
    );
  });

  it("as a server, unmasks a client's frames whatever their keys, fragments, pings and reads", () => {
    const masked = fc.record({ data: message.map((m) => m.data), isBinary: fc.boolean(), keys: fc.array(fc.integer({ min: 0, max: 0xffffffff }), { minLength: 1, maxLength: 3 }) });
    fc.assert(
      fc.property(fc.array(masked, { maxLength: 5 }), fc.array(fc.integer({ min: 1, max: 100_000 }), { maxLength: 5 }), fc.boolean(), (messages, sizes, fed) => {
        const parts: Buffer[] = [];
        for (const m of messages) {
          // One fragment per key, cut evenly; a ping (masked too) after the first.
          const n = m.keys.length;
          for (let i = 0; i < n; i++) {
            const piece = m.data.subarray(Math.floor((i * m.data.length) / n), Math.floor(((i + 1) * m.data.length) / n));
            const opcode = i === 0 ? (m.isBinary ? OPCODE.binary : OPCODE.text) : OPCODE.continuation;
            parts.push(frame(opcode, piece, { fin: i === n - 1, mask: true, maskKey: m.keys[i] }));
            if (i === 0) parts.push(frame(OPCODE.ping, Buffer.from('ping!'), { mask: true, maskKey: (m.keys[0] ^ 0x5a5a5a5a) >>> 0 }));
          }
        }
        const stream = Buffer.concat(parts);
        const { reader: r, got } = reader(1 << 20, 'server');
        if (fed) feedInPieces(r, stream, sizes);
        else readInPieces(r, stream, sizes);
        expect(got.messages.map((g) => [g.data.toString('hex'), g.isBinary])).toEqual(messages.map((m) => [Buffer.from(m.data).toString('hex'), m.isBinary]));
        expect(got.controls.map((c) => String(c.payload))).toEqual(messages.map(() => 'ping!'));
      }),
      { numRuns: 150 },
    );
  });

  it('as a server, refuses an unmasked frame; as a client, a masked one', () => {
    expectFrameError(() => reader(1024, 'server').reader.feed(frame(OPCODE.binary, Buffer.from('x'))), CLOSE_CODE.protocolError, /client frame must be masked/);
    expectFrameError(() => reader(1024, 'client').reader.feed(frame(OPCODE.binary, Buffer.from('x'), { mask: true, maskKey: 7 })), CLOSE_CODE.protocolError, /must not be masked/);
  });

  it('takes bytes fed from elsewhere (what followed the handshake) the same way, split anywhere', () => {
    // Sizes that take each length form: 7 bits, 16 bits, 64 bits.
    const payload = fc.oneof(fc.uint8Array({ maxLength: 125 }), fc.integer({ min: 126, max: 70_000 }).map((n) => new Uint8Array(n).fill(n & 0xff)));
    fc.assert(
      fc.property(fc.array(payload, { maxLength: 4 }), fc.integer({ min: 1, max: 9 }), (payloads, step) => {
        const stream = Buffer.concat(payloads.map((p) => frame(OPCODE.binary, p)));
        const { reader: r, got } = reader();
        for (let at = 0; at < stream.length; at += step) r.feed(stream.subarray(at, at + step));
        expect(got.messages.map((g) => g.data.toString('hex'))).toEqual(payloads.map((p) => Buffer.from(p).toString('hex')));
      }),
      { numRuns: 50 },
    );
  });

  it('reads a large payload straight into the buffer it hands out, and a small one through its scratch buffer', () => {
    const { reader: r, got } = reader();
    const big = Buffer.alloc(300_000, 7);
    r.feed(frame(OPCODE.binary, big).subarray(0, 10)); // the header alone
    const into = r.nextBuffer();
    expect(into.length).toBe(big.length);
    big.copy(into);
    r.bytesRead(big.length);
    expect(got.messages).toHaveLength(1);
    expect(got.messages[0].data.buffer).toBe(into.buffer); // no copy: the message is the buffer read into
    expect(got.messages[0].data.equals(big)).toBe(true);

    const small = frame(OPCODE.binary, Buffer.from('tiny'));
    r.feed(small.subarray(0, 3)); // a header and part of the payload: the rest is read through the scratch buffer
    expect(r.nextBuffer().length).toBeGreaterThanOrEqual(64 * 1024);
  });

  it('reads payloads into the buffers its allocator gives, control frames aside', () => {
    const asked: number[] = [];
    const got: Buffer[] = [];
    const r = new FrameReader(1 << 20, { onMessage: (data) => got.push(data), onControl: () => undefined }, (length) => {
      asked.push(length);
      return Buffer.alloc(length);
    });
    r.feed(Buffer.concat([frame(OPCODE.ping, Buffer.from('p')), frame(OPCODE.binary, Buffer.from('abc'))]));
    expect(asked).toEqual([3]);
    expect(got.map(String)).toEqual(['abc']);
  });

  it("shows its allocator a large unfragmented message's first bytes, unmasked, however they arrive", () => {
    fc.assert(
      fc.property(fc.integer({ min: 64 * 1024, max: 200_000 }), fc.integer({ min: 0, max: 0xffffffff }), fc.array(fc.integer({ min: 1, max: 70_000 }), { maxLength: 4 }), (length, key, sizes) => {
        const data = pattern(length);
        const shown: Array<{ length: number; head: string | undefined }> = [];
        const got: Buffer[] = [];
        const r = new FrameReader(1 << 20, { onMessage: (m) => got.push(m), onControl: () => undefined }, (n, head) => {
          shown.push({ length: n, head: head?.toString('hex') });
          return Buffer.alloc(n);
        }, 'server', { peek: { bytes: 42 } });
        const stream = Buffer.concat([
          frame(OPCODE.binary, data, { mask: true, maskKey: key }),
          frame(OPCODE.binary, data.subarray(0, 1000), { mask: true, maskKey: key }), // small: no head
          frame(OPCODE.binary, data, { fin: false, mask: true, maskKey: key }), // fragmented: no head
          frame(OPCODE.continuation, data.subarray(0, 10), { mask: true, maskKey: key }),
        ]);
        feedInPieces(r, stream, sizes);
        expect(shown).toEqual([
          { length, head: data.subarray(0, 42).toString('hex') },
          { length: 1000, head: undefined },
          { length, head: undefined },
          { length: 10, head: undefined },
        ]);
        expect(got.map((m) => m.toString('hex'))).toEqual([data, data.subarray(0, 1000), Buffer.concat([data, data.subarray(0, 10)])].map((m) => m.toString('hex')));
      }),
      { numRuns: 40 },
    );
  });

  it('shows a longer head when its allocator asks for one, up to the whole message, however the bytes arrive', () => {
    fc.assert(
      fc.property(fc.integer({ min: 64 * 1024, max: 150_000 }), fc.integer({ min: 0, max: 200_000 }), fc.integer({ min: 0, max: 0xffffffff }), fc.array(fc.integer({ min: 1, max: 70_000 }), { maxLength: 4 }), (length, wanted, key, sizes) => {
        const data = pattern(length);
        const shown: number[] = [];
        const got: Buffer[] = [];
        const r = new FrameReader(1 << 20, { onMessage: (m) => got.push(m), onControl: () => undefined }, (n, head) => {
          expect(head?.equals(data.subarray(0, head.length))).toBe(true);
          shown.push(head?.length ?? -1);
          return Buffer.alloc(n);
        }, 'server', { peek: { bytes: 42, more: (head, n) => (expect(n).toBe(length), expect(head.equals(data.subarray(0, head.length))).toBe(true), wanted) } });
        feedInPieces(r, frame(OPCODE.binary, data, { mask: true, maskKey: key }), sizes);
        expect(shown).toEqual([Math.max(42, Math.min(wanted, length))]);
        expect(got.map((m) => m.toString('hex'))).toEqual([data.toString('hex')]);
      }),
      { numRuns: 60 },
    );
  });

  it('refuses a fragmented message over its limit for them, however large a whole one may be', () => {
    const r = new FrameReader(1 << 20, { onMessage: () => undefined, onControl: () => undefined }, undefined, 'client', { maxFragmentedPayload: 100 });
    r.feed(Buffer.concat([frame(OPCODE.binary, Buffer.alloc(60), { fin: false }), frame(OPCODE.continuation, Buffer.alloc(40))])); // 100: taken
    r.feed(frame(OPCODE.binary, Buffer.alloc(5000))); // unfragmented: up to maxPayload
    expectFrameError(() => r.feed(Buffer.concat([frame(OPCODE.binary, Buffer.alloc(60), { fin: false }), frame(OPCODE.continuation, Buffer.alloc(41))])), CLOSE_CODE.tooBig, /fragmented message over 100/);
    const pings: number[] = [];
    const withPing = new FrameReader(1 << 20, { onMessage: () => undefined, onControl: (opcode) => pings.push(opcode) }, undefined, 'client', { maxFragmentedPayload: 100 });
    withPing.feed(Buffer.concat([frame(OPCODE.binary, Buffer.alloc(100), { fin: false }), frame(OPCODE.ping, Buffer.alloc(50)), frame(OPCODE.continuation, Buffer.alloc(0))]));
    expect(pings).toEqual([OPCODE.ping]); // a control frame between fragments is not counted in the message
    const first = new FrameReader(1 << 20, { onMessage: () => undefined, onControl: () => undefined }, undefined, 'client', { maxFragmentedPayload: 100 });
    expectFrameError(() => first.feed(frame(OPCODE.binary, Buffer.alloc(101), { fin: false })), CLOSE_CODE.tooBig, /fragmented message over 100/); // from its first fragment
  });

  it('hands back the buffer of a message left unfinished, once', () => {
    const given: Buffer[] = [];
    const r = new FrameReader(1 << 20, { onMessage: () => undefined, onControl: () => undefined }, (n) => (given.push(Buffer.alloc(n)), given[given.length - 1]));
    expect(r.abandon()).toBeUndefined();
    r.feed(frame(OPCODE.binary, pattern(100_000)).subarray(0, 5000));
    expect(r.abandon()).toBe(given[0]);
    expect(r.abandon()).toBeUndefined();
  });

  it('refuses a message in more than 256 fragments, empty ones too (which no byte limit would see)', () => {
    const { reader: r, got } = reader();
    const fragments = [frame(OPCODE.binary, Buffer.from('a'), { fin: false }), ...Array.from({ length: 254 }, () => frame(OPCODE.continuation, Buffer.alloc(0), { fin: false }))];
    r.feed(Buffer.concat([...fragments, frame(OPCODE.continuation, Buffer.from('b'))])); // 256: still a message
    expect(got.messages.map((m) => String(m.data))).toEqual(['ab']);
    expectFrameError(() => r.feed(Buffer.concat([...fragments, frame(OPCODE.continuation, Buffer.alloc(0), { fin: false }), frame(OPCODE.continuation, Buffer.from('c'))])), CLOSE_CODE.tooBig, /more than 256 fragments/);
  });

  it('stops for good when its allocator fails, and reads nothing after a close frame', () => {
    const failing = new FrameReader(1 << 20, { onMessage: () => undefined, onControl: () => undefined }, () => {
      throw new RangeError('no memory');
    });
    expectFrameError(() => failing.feed(frame(OPCODE.binary, Buffer.from('x'))), CLOSE_CODE.internalError, /no memory/);
    expectFrameError(() => failing.feed(frame(OPCODE.binary, Buffer.from('y'))), CLOSE_CODE.internalError, /no memory/); // not parsed as a header

    const { reader: r, got } = reader();
    r.feed(Buffer.concat([frame(OPCODE.close, Buffer.from([0x03, 0xe8])), frame(OPCODE.binary, Buffer.from('late'))]));
    r.feed(frame(OPCODE.binary, Buffer.from('later')));
    expect(got.controls.map((c) => c.opcode)).toEqual([OPCODE.close]);
    expect(got.messages).toEqual([]);
  });

  it('passes close and pong frames on, and an empty message as an empty buffer', () => {
    const { reader: r, got } = reader();
    r.feed(Buffer.concat([frame(OPCODE.pong, Buffer.alloc(0)), frame(OPCODE.binary, Buffer.alloc(0)), frame(OPCODE.close, Buffer.from([0x03, 0xe8, 0x68, 0x69]))]));
    expect(got.controls.map((c) => [c.opcode, [...c.payload]])).toEqual([
      [OPCODE.pong, []],
      [OPCODE.close, [0x03, 0xe8, 0x68, 0x69]],
    ]);
    expect(got.messages).toEqual([{ data: Buffer.alloc(0), isBinary: true }]);
  });

  describe('refuses what a server must not send', () => {
    const cases: Array<[string, Buffer, number, RegExp]> = [
      ['reserved bits', frame(OPCODE.binary, Buffer.from('x'), { rsv: 4 }), CLOSE_CODE.protocolError, /reserved bits/],
      ['a masked frame', frame(OPCODE.binary, Buffer.alloc(4), { mask: true }), CLOSE_CODE.protocolError, /masked/],
      ['an unknown data opcode', frame(0x3, Buffer.from('x')), CLOSE_CODE.protocolError, /unknown opcode 3/],
      ['an unknown control opcode', frame(0xb, Buffer.from('x')), CLOSE_CODE.protocolError, /unknown opcode 11/],
      ['a fragmented control frame', frame(OPCODE.ping, Buffer.from('x'), { fin: false }), CLOSE_CODE.protocolError, /fragmented control/],
      ['a control frame over 125 bytes', frame(OPCODE.ping, Buffer.alloc(126)), CLOSE_CODE.protocolError, /over 125/],
      ['a continuation of nothing', frame(OPCODE.continuation, Buffer.from('x')), CLOSE_CODE.protocolError, /no message to continue/],
      [
        'a new message inside a fragmented one',
        Buffer.concat([frame(OPCODE.binary, Buffer.from('a'), { fin: false }), frame(OPCODE.binary, Buffer.from('b'))]),
        CLOSE_CODE.protocolError,
        /before the last one was finished/,
      ],
      ['a message over the limit', frame(OPCODE.binary, Buffer.alloc(0), { length: 1025 }), CLOSE_CODE.tooBig, /over 1024 bytes/],
      [
        'fragments that add up to more than the limit',
        Buffer.concat([frame(OPCODE.binary, Buffer.alloc(600), { fin: false }), frame(OPCODE.continuation, Buffer.alloc(0), { length: 600 })]),
        CLOSE_CODE.tooBig,
        /over 1024 bytes/,
      ],
    ];
    it.each(cases)('%s', (_name, bytes, closeCode, why) => {
      const { reader: r, got } = reader(1024);
      expectFrameError(() => r.feed(bytes), closeCode, why);
      expect(got.messages).toEqual([]);
      // and reads nothing more after it
      expectFrameError(() => r.feed(frame(OPCODE.binary, Buffer.from('later'))), closeCode, why);
    });

    it('a 64-bit length beyond 2^53', () => {
      const head = Buffer.from([0x82, 127, 0xff, 0, 0, 0, 0, 0, 0, 1]);
      expectFrameError(() => reader().reader.feed(head), CLOSE_CODE.tooBig, /beyond 2\^53/);
    });
  });

  it('never throws anything but a WebSocketFrameError, whatever the bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.constantFrom<ReaderRole>('client', 'server'), (bytes, role) => {
        const { reader: r } = reader(256, role);
        try {
          r.feed(bytes);
        } catch (err) {
          expect(err).toBeInstanceOf(WebSocketFrameError);
        }
      }),
      { numRuns: 500 },
    );
  });
});
