import { createHash, generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import { CairnError, ERROR_CODES, ErrorCode } from './errors';
import { GRANT_LENGTH_BYTES, HASH_BYTES, MAX_REQUEST_ID, OFFSET_FLAGS, OFFSET_REQUEST_ID, OFFSET_TYPE, OFFSET_VERSION } from './frame-layout';
import { MAX_GRANT_BYTES, signGrant } from './grants';
import {
  FRAME_HEADER_SIZE,
  MAX_CHUNK_SIZE,
  MAX_CONTROL_BODY,
  MAX_FILE_SIZE,
  MAX_FRAME_SIZE,
  MAX_NAME_BYTES,
  MAX_PAGE,
  MAX_PREPARED_UPLOADS,
  MAX_REPLICAS,
  PROTOCOL_VERSION,
} from './limits';
import { isValidName } from './names';
import {
  concatFrame,
  DATA_PREFIX_BYTES,
  dataPayloadOffset,
  readDataHead,
  decodeFrame,
  encodeControl,
  encodeData,
  encodeError,
  errorFromWire,
  isDataType,
  MESSAGES,
  messageTypeOf,
  type Body,
  type ControlType,
  type DataType,
  type Frame,
  type MessageType,
} from './index';

// A failing property must report quickly: stop generating and shrinking after 4 s and fail anyway
// (fc.assert is synchronous, so Jest's own timeout could not interrupt it).
fc.configureGlobal({ interruptAfterTimeLimit: 4_000, markInterruptAsFailure: true });

// ---------------------------------------------------------------------------------------------------
// Arbitraries: one per message type, producing bodies the schemas accept.
// ---------------------------------------------------------------------------------------------------

/** fc.record, but plain objects only: the decoder returns plain objects and toStrictEqual compares prototypes. */
function record<T, K extends keyof T = keyof T>(model: { [P in keyof T]: fc.Arbitrary<T[P]> }, constraints?: fc.RecordConstraints<K>) {
  return fc.record<T, K>(model, { ...constraints, noNullPrototype: true });
}

/** Any integer in [min, max], including beyond 32 bits (fc.integer stops at 2^31 - 1). */
const intIn = (min: number, max: number) =>
  fc.bigInt({ min: BigInt(min), max: BigInt(max) }).map((n) => Number(n));

const requestId = intIn(0, MAX_REQUEST_ID);
const hex64 = fc.uint8Array({ minLength: HASH_BYTES, maxLength: HASH_BYTES }).map((b) => Buffer.from(b).toString('hex'));
const nodeId = fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/);
const uploadId = fc.stringMatching(/^[A-Za-z0-9_-]{8,64}$/);
const port = fc.integer({ min: 1, max: 65535 });
const hostPort = fc.oneof(
  fc.constantFrom('127.0.0.1:7701', '127.0.0.1:7702', 'localhost:7700', '[::1]:7701'),
  fc.tuple(fc.ipV4(), port).map(([host, p]) => `${host}:${p}`),
  fc.tuple(fc.ipV6(), port).map(([host, p]) => `[${host}]:${p}`),
  fc.tuple(fc.domain(), port).map(([host, p]) => `${host}:${p}`),
);
/** host:port as a node announces it, bare or with ws:// / wss:// (a node serving TLS). */
const address = fc
  .tuple(fc.constantFrom('', '', 'wss://', 'ws://'), hostPort)
  .map(([scheme, hp]) => `${scheme}${hp}`)
  .filter((a) => a.length <= 300);
const zone = fc.option(fc.stringMatching(/^[A-Za-z0-9_.-]{0,64}$/), { nil: null });
const byteSize = intIn(0, MAX_FILE_SIZE);
const count = intIn(0, MAX_FILE_SIZE);
const chunkSize = intIn(0, MAX_CHUNK_SIZE);
const uploadChunkSize = intIn(1, MAX_CHUNK_SIZE);
const chunkIndex = intIn(0, 2 ** 32);
const replicas = fc.integer({ min: 1, max: MAX_REPLICAS });
const timestamp = intIn(0, MAX_FILE_SIZE);
const nodeState = fc.constantFrom('alive' as const, 'suspect' as const, 'dead' as const, 'draining' as const);
const tokenScope = fc.constantFrom('read' as const, 'write' as const, 'admin' as const);
const nonce = hex64;

/** Free text: any code point, lone surrogates included (JSON escapes them), at most `max` UTF-16 units. */
const text = (max: number, minLength = 0) =>
  fc
    .string({
      unit: fc.oneof(fc.integer({ min: 0, max: 0x10ffff }).map((cp) => String.fromCodePoint(cp)), fc.constantFrom('"', '\\', '\n', '\uD800')),
      minLength,
      maxLength: Math.min(max, 40),
    })
    .filter((s) => s.length <= max);

/** Real grants, signed by a controller key: what peers actually carry. */
const grantKey = generateKeyPairSync('ed25519').privateKey;
const signedGrant = record(
  {
    op: fc.constantFrom('put' as const, 'get' as const),
    hashes: fc.array(hex64, { minLength: 1, maxLength: 4 }),
    nodes: fc.array(nodeId, { maxLength: 3 }),
    exp: timestamp,
  },
  { requiredKeys: ['op', 'hashes', 'exp'] },
).map((g) => signGrant(grantKey, g));
/** A grant field of a control body: a real grant or any non-empty string the schema accepts. */
const grant = fc.oneof(signedGrant, text(MAX_GRANT_BYTES, 1));
/**
 * A data frame's grant (raw UTF-8 behind a u16 length): empty (chunk.data), a real grant, or any
 * well-formed Unicode. Kept out on purpose: a lone surrogate (UTF-8 cannot carry it; the encoder
 * writes U+FFFD) and a leading U+FEFF, which has a test of its own further down.
 */
const dataGrant = fc.oneof(
  fc.constant(''),
  signedGrant,
  fc.string({ unit: 'binary', maxLength: 40 }).filter((s) => !s.startsWith('\uFEFF')),
);

/** Valid file names, built from valid segments (UTF-8, spaces, dots) and checked against the byte limit. */
const segment = fc
  .string({ unit: fc.oneof(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }), fc.constantFrom(' ', '.', 'é', '日', '😀')), minLength: 1, maxLength: 16 })
  .filter((s) => s !== '.' && s !== '..' && !s.includes('/') && !s.includes('\0'));
const fileName = fc.oneof(
  { weight: 8, arbitrary: fc.array(segment, { minLength: 1, maxLength: 6 }).map((s) => s.join('/')) },
  { weight: 1, arbitrary: fc.constantFrom('photos/2024/a.jpg', 'a'.repeat(MAX_NAME_BYTES), '😀'.repeat(MAX_NAME_BYTES / 4), 'x y/ z') },
).filter(isValidName);

const page = <T>(item: fc.Arbitrary<T>, maxLength = 5) => fc.array(item, { maxLength: Math.min(maxLength, MAX_PAGE) });
const nodeRef = record({ id: nodeId, address });
const placeRequests = page(record({ index: chunkIndex, hash: hex64, size: chunkSize, count: replicas }, { requiredKeys: ['index', 'hash', 'size'] }));
const placements = page(
  record({ index: chunkIndex, nodes: fc.array(nodeRef, { maxLength: 4 }), grant, held: fc.array(nodeId, { maxLength: 4 }) }, { requiredKeys: ['index', 'nodes', 'grant'] }),
);
const storedRecords = page(
  record({
    index: chunkIndex,
    hash: hex64,
    size: chunkSize,
    nodes: fc.array(nodeId, { minLength: 1, maxLength: 16 }),
    receipts: fc.array(hex64, { minLength: 1, maxLength: 16 }),
  }),
);
const fileInfo = record({
  id: count,
  name: text(MAX_NAME_BYTES),
  size: byteSize,
  sha256: hex64,
  replicas,
  chunkCount: count,
  createdAt: timestamp,
  updatedAt: timestamp,
});
const nodeInfo = record({
  id: nodeId,
  address,
  zone,
  state: nodeState,
  capacity: byteSize,
  used: byteSize,
  chunks: count,
  lastSeen: timestamp,
});

/** Every control message type must have an entry here; the type checker and a test both insist. */
const CONTROL_BODIES: { [K in ControlType]: fc.Arbitrary<Body<K>> } = {
  error: record({ code: fc.oneof(fc.constantFrom(...ERROR_CODES), text(64)), message: text(4096) }),
  ack: fc.constant({}),
  'upload.begin': record({ name: fileName, replicas, chunks: placeRequests }, { requiredKeys: ['name'] }),
  'upload.begun': record({ uploadId, chunkSize: uploadChunkSize, replicas, placements }, { requiredKeys: ['uploadId', 'chunkSize', 'replicas'] }),
  'upload.place': record({ uploadId, chunks: placeRequests, exclude: page(nodeId) }, { requiredKeys: ['uploadId', 'chunks'] }),
  'upload.placed': record({ placements }),
  'upload.stored': record({ uploadId, chunks: storedRecords }),
  'upload.prepare': record({ count: fc.integer({ min: 1, max: MAX_PREPARED_UPLOADS }), replicas }, { requiredKeys: ['count'] }),
  'upload.prepared': record({
    chunkSize: uploadChunkSize,
    replicas,
    usableMs: count,
    uploads: fc.array(record({ uploadId, nodes: fc.array(record({ id: nodeId, address }), { maxLength: 4 }), grant }), { maxLength: 8 }),
  }),
  'upload.commit': record(
    { uploadId, name: fileName, size: byteSize, sha256: hex64, chunkCount: count, chunks: storedRecords },
    { requiredKeys: ['uploadId', 'size', 'sha256', 'chunkCount'] },
  ),
  'upload.abort': record({ uploadId }),
  'file.stat': record({ name: fileName }),
  'file.info': record({ file: fileInfo }),
  'file.chunks': record({ name: fileName, fileId: count, from: chunkIndex, limit: fc.integer({ min: 1, max: MAX_PAGE }) }, { requiredKeys: ['name', 'from', 'limit'] }),
  'file.chunk-page': record(
    {
      chunks: page(
        record({
          index: chunkIndex,
          hash: hex64,
          size: chunkSize,
          nodes: fc.array(record({ id: nodeId, address, state: nodeState }), { maxLength: 4 }),
        }),
      ),
      grant,
      file: fileInfo,
    },
    { requiredKeys: ['chunks'] },
  ),
  'file.list': record(
    { prefix: text(64).filter((p) => !p.includes('\0')), after: text(4096), limit: fc.integer({ min: 1, max: MAX_PAGE }) },
    { requiredKeys: ['prefix', 'limit'] },
  ),
  'file.list-page': record({ files: page(fileInfo), next: text(200) }, { requiredKeys: ['files'] }),
  'file.remove': record({ name: fileName }),
  'nodes.list': fc.constant({}),
  'nodes.info': record({ nodes: fc.array(nodeInfo, { maxLength: 5 }) }),
  'cluster.status': fc.constant({}),
  'cluster.info': record({
    nodes: record({ alive: count, suspect: count, dead: count, draining: count }),
    files: count,
    bytes: count,
    chunks: count,
    underReplicated: count,
    lost: count,
    repair: record({ queued: count, running: count, copiedChunks: count, copiedBytes: count }),
    gc: record({ pendingChunks: count, deletedChunks: count }),
  }),
  'chunk.bad': record({ hash: hex64, nodeId, reason: text(200) }),
  'node.forget': record({ nodeId }),
  'node.drain': record({ nodeId, draining: fc.boolean() }),
  'session.auth': record({ token: fc.oneof(fc.stringMatching(/^cairn_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/), text(512, 1)) }),
  'session.info': record({ scope: tokenScope, prefix: fc.option(text(4096), { nil: null }) }),
  'token.create': record({ scope: tokenScope, prefix: text(64).filter((p) => !p.includes('\0')) }, { requiredKeys: ['scope'] }),
  'token.created': record({ id: text(64), token: text(512) }),
  'token.list': fc.constant({}),
  'token.listed': record({
    tokens: fc.array(
      record({ id: text(64), scope: tokenScope, prefix: fc.option(text(4096), { nil: null }), createdAt: timestamp, revokedAt: fc.option(timestamp, { nil: null }) }),
      { maxLength: 5 },
    ),
  }),
  'token.revoke': record({ id: text(64) }),
  'node.hello': record({ nodeId, nonce }),
  'node.challenge': record({ nonce, proof: hex64, grantPublicKey: text(1024) }),
  'node.register': record({ nodeId, address, zone, capacity: byteSize, used: byteSize, chunks: count, proof: hex64 }),
  'node.registered': record({ heartbeatMs: fc.integer({ min: 10, max: 3_600_000 }) }),
  'node.heartbeat': record({ capacity: byteSize, used: byteSize, chunks: count }),
  'node.report': record({ hashes: page(hex64), first: fc.boolean(), done: fc.boolean() }),
  'chunk.quarantined': record({ hash: hex64, reason: text(200) }),
  'node.chunks': record({ after: hex64, limit: fc.integer({ min: 1, max: MAX_PAGE }) }, { requiredKeys: ['limit'] }),
  'node.chunk-page': record({ hashes: page(hex64), next: hex64 }, { requiredKeys: ['hashes'] }),
  'chunk.stored': record({ hash: hex64, size: chunkSize, stored: fc.boolean(), receipt: hex64 }, { requiredKeys: ['hash', 'size', 'stored'] }),
  'chunk.get': record({ hash: hex64, grant }),
  'chunk.has': record({ hashes: page(hex64), grant }),
  'chunk.claim': record({ hash: hex64, grant, proof: hex64 }),
  'chunk.present': record({ present: page(fc.boolean()) }),
  'chunk.replicate': record({ hash: hex64, size: chunkSize, source: nodeRef, grant }),
  'chunk.delete': record({ hashes: page(hex64), minAgeMs: intIn(0, Number.MAX_SAFE_INTEGER) }),
  'chunk.deleted': record({ deleted: page(fc.boolean()) }),
  'chunk.check': record({ hash: hex64 }),
  'chunk.checked': record({ ok: fc.boolean() }),
  'chunk.find-prepared': record({ uploads: page(uploadId) }),
  'chunk.found-prepared': record({ hashes: page(hex64) }),
};

/** Data frames: a claimed hash, a grant and raw bytes (the codec carries them; receivers verify them). */
const DATA_BODIES: { [K in DataType]: fc.Arbitrary<{ hash: string; grant: string; payload: Uint8Array }> } = {
  'chunk.put': record({ hash: hex64, grant: dataGrant, payload: fc.uint8Array({ maxLength: 4096 }) }),
  'chunk.data': record({ hash: hex64, grant: dataGrant, payload: fc.uint8Array({ maxLength: 4096 }) }),
};

const ALL_TYPES = Object.keys(MESSAGES) as MessageType[];
/** Types without an arbitrary are left out here, so the coverage test below names them instead of the suite crashing. */
const CONTROL_TYPES = ALL_TYPES.filter((t): t is ControlType => !isDataType(t) && t in CONTROL_BODIES);
const DATA_TYPES = ALL_TYPES.filter((t): t is DataType => isDataType(t) && t in DATA_BODIES);

/** Any valid frame, as bytes, with what it should decode to. */
const validFrame: fc.Arbitrary<{ bytes: Buffer; frame: Frame }> = fc.oneof(
  ...CONTROL_TYPES.map((type) =>
    fc.tuple(requestId, CONTROL_BODIES[type] as fc.Arbitrary<Body<ControlType>>).map(([id, body]) => ({
      bytes: encodeControl(type, id, body),
      frame: { type, requestId: id, body } as Frame,
    })),
  ),
  ...DATA_TYPES.map((type) =>
    fc.tuple(requestId, DATA_BODIES[type]).map(([id, { hash, grant, payload }]) => ({
      bytes: concatFrame(encodeData(type, id, hash, payload, grant)),
      frame: { type, requestId: id, hash, grant, payload } as Frame,
    })),
  ),
);

// ---------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------

const DECODE_CODES: readonly ErrorCode[] = [
  'E_FRAME_MALFORMED',
  'E_FRAME_TOO_LARGE',
  'E_VERSION',
  'E_UNKNOWN_TYPE',
  'E_BAD_MESSAGE',
  'E_NAME_INVALID',
];

/** Runs `fn` and returns the CairnError it threw (fails the test if it threw nothing or something else). */
function refusal(fn: () => unknown): CairnError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CairnError);
    return err as CairnError;
  }
  throw new Error('expected a CairnError, but nothing was thrown');
}

/** A frame with a hand-written header and body, for the cases an encoder would never produce. */
function rawFrame(opts: { version?: number; code?: number; flags?: number; requestId?: number; body?: Uint8Array | string }): Buffer {
  const header = Buffer.alloc(FRAME_HEADER_SIZE);
  header.writeUInt8(opts.version ?? PROTOCOL_VERSION, OFFSET_VERSION);
  header.writeUInt8(opts.code ?? MESSAGES.ack.code, OFFSET_TYPE);
  header.writeUInt16BE(opts.flags ?? 0, OFFSET_FLAGS);
  header.writeUInt32BE(opts.requestId ?? 7, OFFSET_REQUEST_ID);
  const body = typeof opts.body === 'string' ? Buffer.from(opts.body, 'utf8') : Buffer.from(opts.body ?? Buffer.from('{}'));
  return Buffer.concat([header, body]);
}

const controlFrame = (type: ControlType, body: unknown, id = 7) =>
  rawFrame({ code: MESSAGES[type].code, requestId: id, body: JSON.stringify(body) });

/** decodeFrame either returns a frame that re-encodes to itself or throws a decode-class CairnError. */
function decodesOrRefuses(bytes: Uint8Array): void {
  let frame: Frame;
  try {
    frame = decodeFrame(bytes);
  } catch (err) {
    expect(err).toBeInstanceOf(CairnError);
    expect(DECODE_CODES).toContain((err as CairnError).code);
    return;
  }
  // Accepted: it is a well-formed frame the encoder would also produce, byte for byte.
  const again = 'body' in frame
    ? encodeControl(frame.type, frame.requestId, frame.body as Body<ControlType>)
    : concatFrame(encodeData(frame.type, frame.requestId, frame.hash, frame.payload, frame.grant));
  expect(decodeFrame(again)).toStrictEqual(frame);
}

// ---------------------------------------------------------------------------------------------------
// The message table
// ---------------------------------------------------------------------------------------------------

describe('MESSAGES', () => {
  it('has an arbitrary for every message type (add one when you add a type)', () => {
    const missing = ALL_TYPES.filter((type) => !(type in (isDataType(type) ? DATA_BODIES : CONTROL_BODIES)));
    expect(missing).toEqual([]);
    const stale = [...Object.keys(CONTROL_BODIES), ...Object.keys(DATA_BODIES)].filter((type) => !(type in MESSAGES));
    expect(stale).toEqual([]);
  });

  it('gives every type a distinct one-byte code that maps back to it', () => {
    const codes = ALL_TYPES.map((t) => MESSAGES[t].code);
    expect(new Set(codes).size).toBe(codes.length);
    for (const type of ALL_TYPES) {
      expect(MESSAGES[type].code).toBeGreaterThan(0);
      expect(MESSAGES[type].code).toBeLessThanOrEqual(0xff);
      expect(messageTypeOf(MESSAGES[type].code)).toBe(type);
    }
  });
});

// ---------------------------------------------------------------------------------------------------
// Round trips
// ---------------------------------------------------------------------------------------------------

describe('encode → decode round-trips exactly', () => {
  it.each(CONTROL_TYPES)('%s', (type) => {
    fc.assert(
      fc.property(requestId, CONTROL_BODIES[type] as fc.Arbitrary<Body<ControlType>>, (id, body) => {
        const bytes = encodeControl(type, id, body);
        expect(bytes.readUInt8(OFFSET_VERSION)).toBe(PROTOCOL_VERSION);
        expect(bytes.readUInt8(OFFSET_TYPE)).toBe(MESSAGES[type].code);
        expect(bytes.readUInt16BE(OFFSET_FLAGS)).toBe(0);
        expect(bytes.readUInt32BE(OFFSET_REQUEST_ID)).toBe(id);
        expect(decodeFrame(bytes)).toStrictEqual({ type, requestId: id, body });
      }),
      { numRuns: 40 },
    );
  });

  it.each(DATA_TYPES)('%s', (type) => {
    fc.assert(
      fc.property(requestId, DATA_BODIES[type], (id, { hash, grant, payload }) => {
        const [header, body] = encodeData(type, id, hash, payload, grant);
        expect(header.length).toBe(FRAME_HEADER_SIZE + HASH_BYTES + GRANT_LENGTH_BYTES + Buffer.byteLength(grant, 'utf8'));
        expect(header.readUInt16BE(FRAME_HEADER_SIZE + HASH_BYTES)).toBe(Buffer.byteLength(grant, 'utf8'));
        expect(body).toBe(payload); // handed through without a copy
        const frame = decodeFrame(concatFrame([header, body]));
        expect(frame.type).toBe(type);
        expect(frame.requestId).toBe(id);
        if (!('payload' in frame)) throw new Error('expected a data frame');
        expect(frame.hash).toBe(hash);
        expect(frame.grant).toBe(grant);
        expect(Buffer.from(frame.payload).equals(Buffer.from(payload))).toBe(true);
      }),
      { numRuns: 40 },
    );
  });

  it.each(DATA_TYPES)("%s: dataPayloadOffset finds the payload from the frame's first bytes alone", (type) => {
    fc.assert(
      fc.property(requestId, DATA_BODIES[type], (id, { hash, grant, payload }) => {
        const bytes = concatFrame(encodeData(type, id, hash, payload, grant));
        const frame = decodeFrame(bytes);
        if (!('payload' in frame)) throw new Error('expected a data frame');
        expect(dataPayloadOffset(bytes.subarray(0, DATA_PREFIX_BYTES))).toBe(frame.payload.byteOffset - bytes.byteOffset);
        expect(dataPayloadOffset(bytes.subarray(0, DATA_PREFIX_BYTES - 1))).toBeUndefined(); // too few bytes to tell
      }),
      { numRuns: 40 },
    );
  });

  it.each(DATA_TYPES)("%s: readDataHead reads the hash and grant from the bytes before the payload alone", (type) => {
    fc.assert(
      fc.property(requestId, DATA_BODIES[type], (id, { hash, grant, payload }) => {
        const bytes = concatFrame(encodeData(type, id, hash, payload, grant));
        const offset = dataPayloadOffset(bytes)!;
        expect(readDataHead(bytes.subarray(0, offset))).toEqual({ type, hash, grant, payloadOffset: offset });
        expect(readDataHead(bytes)).toEqual({ type, hash, grant, payloadOffset: offset }); // more bytes change nothing
        if (offset > DATA_PREFIX_BYTES) expect(readDataHead(bytes.subarray(0, offset - 1))).toBeUndefined(); // the grant cut short
      }),
      { numRuns: 40 },
    );
  });

  it('readDataHead says nothing of a control frame, a grant that is not UTF-8 or junk, and never throws', () => {
    const control = encodeControl('chunk.get', 1, { hash: 'a'.repeat(64), grant: 'g.s' });
    expect(readDataHead(Buffer.concat([control, Buffer.alloc(DATA_PREFIX_BYTES)]))).toBeUndefined();
    const data = concatFrame(encodeData('chunk.put', 1, 'a'.repeat(64), Buffer.alloc(10), 'g.s'));
    data[DATA_PREFIX_BYTES] = 0xff; // the grant's first byte
    expect(readDataHead(data)).toBeUndefined();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), (junk) => {
        const head = readDataHead(junk);
        if (head) expect(head.payloadOffset).toBeLessThanOrEqual(junk.length);
      }),
      { numRuns: 300 },
    );
  });

  it('dataPayloadOffset says nothing of a control frame, another version or junk, and never throws', () => {
    const control = encodeControl('chunk.get', 1, { hash: 'a'.repeat(64), grant: 'g.s' });
    expect(dataPayloadOffset(Buffer.concat([control, Buffer.alloc(DATA_PREFIX_BYTES)]))).toBeUndefined();
    const data = concatFrame(encodeData('chunk.put', 1, 'a'.repeat(64), Buffer.alloc(10), 'g.s'));
    data[OFFSET_VERSION] = PROTOCOL_VERSION + 1;
    expect(dataPayloadOffset(data)).toBeUndefined();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (junk) => {
        const offset = dataPayloadOffset(junk);
        if (offset !== undefined) expect(offset).toBeGreaterThanOrEqual(DATA_PREFIX_BYTES);
        if (offset !== undefined) expect(offset).toBeLessThanOrEqual(DATA_PREFIX_BYTES + MAX_GRANT_BYTES);
      }),
      { numRuns: 300 },
    );
  });

  it('carries a real chunk of MAX_CHUNK_SIZE bytes with its SHA-256', () => {
    const payload = Buffer.alloc(MAX_CHUNK_SIZE, 0xab);
    const hash = createHash('sha256').update(payload).digest('hex');
    const grant = signGrant(grantKey, { op: 'put', hashes: [hash], nodes: ['node-1'], exp: 1 });
    const frame = decodeFrame(concatFrame(encodeData('chunk.put', 1, hash, payload, grant)));
    expect(frame).toMatchObject({ type: 'chunk.put', requestId: 1, hash, grant });
    if (!('payload' in frame)) throw new Error('expected a data frame');
    expect(createHash('sha256').update(frame.payload).digest('hex')).toBe(hash);
  });

  it('decodes a frame that sits at an offset inside a larger buffer', () => {
    const frame = encodeControl('chunk.get', 99, { hash: 'a'.repeat(64), grant: 'g.s' });
    const inside = Buffer.concat([Buffer.from('junk!'), frame, Buffer.from('more')]).subarray(5, 5 + frame.length);
    expect(decodeFrame(inside)).toStrictEqual({ type: 'chunk.get', requestId: 99, body: { hash: 'a'.repeat(64), grant: 'g.s' } });
    const [header, payload] = encodeData('chunk.put', 98, 'b'.repeat(64), Buffer.from('bytes'), 'g.s');
    const data = concatFrame([header, payload]);
    const dataInside = Buffer.concat([Buffer.from('junk!'), data, Buffer.from('more')]).subarray(5, 5 + data.length);
    expect(decodeFrame(dataInside)).toMatchObject({ type: 'chunk.put', requestId: 98, hash: 'b'.repeat(64), grant: 'g.s', payload: Buffer.from('bytes') });
  });

  it('round-trips a full page (MAX_PAGE entries) and refuses one more', () => {
    const hashes = Array.from({ length: MAX_PAGE }, (_, i) => i.toString(16).padStart(64, '0'));
    const grant = 'g.s';
    expect(decodeFrame(encodeControl('chunk.has', 3, { hashes, grant }))).toStrictEqual({ type: 'chunk.has', requestId: 3, body: { hashes, grant } });
    const over = [...hashes, 'f'.repeat(64)];
    expect(refusal(() => encodeControl('chunk.has', 3, { hashes: over, grant })).code).toBe('E_BAD_MESSAGE');
    expect(refusal(() => decodeFrame(controlFrame('chunk.has', { hashes: over, grant }))).code).toBe('E_BAD_MESSAGE');
  });

  // A client cuts its file into chunks of this size: with 0 it would cut empty chunks forever.
  it('refuses an upload whose chunk size is 0, begun or prepared', () => {
    const begun = { uploadId: 'u'.repeat(8), chunkSize: 0, replicas: 2 };
    expect(refusal(() => decodeFrame(controlFrame('upload.begun', begun))).code).toBe('E_BAD_MESSAGE');
    const prepared = { chunkSize: 0, replicas: 2, usableMs: 1000, uploads: [] };
    expect(refusal(() => decodeFrame(controlFrame('upload.prepared', prepared))).code).toBe('E_BAD_MESSAGE');
    expect(decodeFrame(controlFrame('upload.begun', { ...begun, chunkSize: 1 }))).toMatchObject({ body: { chunkSize: 1 } });
  });

  it('encodeError → decode → errorFromWire keeps the code and message of a CairnError', () => {
    fc.assert(
      fc.property(requestId, fc.constantFrom(...ERROR_CODES), text(200), (id, code, message) => {
        const frame = decodeFrame(encodeError(id, new CairnError(code, message)));
        expect(frame.type).toBe('error');
        expect(frame.requestId).toBe(id);
        if (frame.type !== 'error') return;
        const back = errorFromWire(frame.body);
        expect(back).toBeInstanceOf(CairnError);
        expect(back.code).toBe(code);
        expect(back.message).toBe(message);
      }),
      { numRuns: 100 },
    );
  });

  it('encodeError still sends an error whose message is longer than the error body allows', () => {
    const message = 'x'.repeat(100_000);
    const frame = decodeFrame(encodeError(5, new CairnError('E_DISK', message)));
    if (frame.type !== 'error') throw new Error('expected an error frame');
    expect(frame.requestId).toBe(5);
    expect(errorFromWire(frame.body).code).toBe('E_DISK');
    expect(frame.body.message.length).toBeLessThanOrEqual(4096);
    expect(frame.body.message.startsWith('x'.repeat(1000))).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------------
// Hostile input
// ---------------------------------------------------------------------------------------------------

describe('decodeFrame never throws anything but a protocol CairnError', () => {
  it('on arbitrary bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 2000 }), decodesOrRefuses), { numRuns: 500 });
  });

  it('on arbitrary bodies behind a valid header of any known or unknown type', () => {
    const header = record({ code: fc.oneof(fc.constantFrom(...ALL_TYPES.map((t) => MESSAGES[t].code)), fc.integer({ min: 0, max: 255 })), requestId });
    const body = fc.oneof(
      fc.uint8Array({ maxLength: 2000 }),
      fc.json().map((j) => Buffer.from(j, 'utf8')),
      fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v) ?? 'null', 'utf8')),
    );
    fc.assert(fc.property(header, body, (h, b) => decodesOrRefuses(rawFrame({ ...h, body: b }))), { numRuns: 500 });
  });

  it('on valid bodies with one field replaced by an arbitrary JSON value', () => {
    const mutated = fc
      .constantFrom(...CONTROL_TYPES)
      .chain((type) => fc.tuple(fc.constant(type), CONTROL_BODIES[type] as fc.Arbitrary<Record<string, unknown>>, fc.string({ maxLength: 12 }), fc.jsonValue()))
      .map(([type, body, extraKey, value]) => {
        const keys = Object.keys(body);
        const key = keys.length > 0 ? keys[extraKey.length % keys.length] : extraKey;
        return controlFrame(type, { ...body, [key]: value });
      });
    fc.assert(fc.property(mutated, decodesOrRefuses), { numRuns: 500 });
  });

  it('on truncations of valid frames', () => {
    const truncated = fc.tuple(validFrame, fc.nat()).map(([{ bytes }, n]) => bytes.subarray(0, n % (bytes.length + 1)));
    fc.assert(fc.property(truncated, decodesOrRefuses), { numRuns: 500 });
  });

  it('on valid frames with one byte changed', () => {
    const flipped = fc.tuple(validFrame, fc.nat(), fc.integer({ min: 1, max: 255 })).map(([{ bytes }, at, xor]) => {
      const copy = Buffer.from(bytes);
      copy[at % copy.length] ^= xor;
      return copy;
    });
    fc.assert(fc.property(flipped, decodesOrRefuses), { numRuns: 500 });
  });
});

describe('decodeFrame refusals', () => {
  it('a header shorter than 8 bytes is E_FRAME_MALFORMED without a request id', () => {
    for (let n = 0; n < FRAME_HEADER_SIZE; n++) {
      const err = refusal(() => decodeFrame(encodeControl('ack', 5, {}).subarray(0, n)));
      expect(err.code).toBe('E_FRAME_MALFORMED');
      expect(err.details?.['requestId']).toBeUndefined();
    }
  });

  it.each([0, PROTOCOL_VERSION - 1, PROTOCOL_VERSION + 1, 255])('version %d is E_VERSION, with the request id', (version) => {
    const err = refusal(() => decodeFrame(rawFrame({ version, requestId: 4242 })));
    expect(err.code).toBe('E_VERSION');
    expect(err.details?.['requestId']).toBe(4242);
  });

  it('a wrong version is reported even when the rest is garbage', () => {
    const err = refusal(() => decodeFrame(rawFrame({ version: 9, code: 0xee, flags: 0xffff, requestId: 1, body: Uint8Array.of(0xff) })));
    expect(err.code).toBe('E_VERSION');
    expect(err.details?.['requestId']).toBe(1);
  });

  it('every type code not in MESSAGES is E_UNKNOWN_TYPE, with the request id', () => {
    const known = new Set(ALL_TYPES.map((t) => MESSAGES[t].code));
    for (let code = 0; code <= 0xff; code++) {
      if (known.has(code)) continue;
      const err = refusal(() => decodeFrame(rawFrame({ code, requestId: code + 1 })));
      expect(err.code).toBe('E_UNKNOWN_TYPE');
      expect(err.details?.['requestId']).toBe(code + 1);
    }
  });

  it.each([1, 0x8000, 0xffff])('flags %d are E_FRAME_MALFORMED', (flags) => {
    const err = refusal(() => decodeFrame(rawFrame({ flags, requestId: 12 })));
    expect(err.code).toBe('E_FRAME_MALFORMED');
    expect(err.details?.['requestId']).toBe(12);
  });

  it.each([
    ['an empty body', ''],
    ['plain text', 'not json'],
    ['truncated JSON', '{"hash":"ab'],
    ['two JSON values', '{} {}'],
  ])('a control body that is not JSON (%s) is E_FRAME_MALFORMED', (_what, body) => {
    const err = refusal(() => decodeFrame(rawFrame({ code: MESSAGES['chunk.get'].code, requestId: 31, body })));
    expect(err.code).toBe('E_FRAME_MALFORMED');
    expect(err.details?.['requestId']).toBe(31);
  });

  it('a control body that is not UTF-8 is E_FRAME_MALFORMED', () => {
    const body = Buffer.concat([Buffer.from('{"hash":"'), Uint8Array.of(0xc3, 0x28), Buffer.from('"}')]);
    expect(refusal(() => decodeFrame(rawFrame({ code: MESSAGES['chunk.get'].code, body }))).code).toBe('E_FRAME_MALFORMED');
  });

  it('invalid UTF-8 where a name is the only text is E_NAME_INVALID', () => {
    const body = Buffer.concat([Buffer.from('{"name":"'), Uint8Array.of(0xc3, 0x28), Buffer.from('"}')]);
    expect(refusal(() => decodeFrame(rawFrame({ code: MESSAGES['file.stat'].code, body }))).code).toBe('E_NAME_INVALID');
  });

  const hash = 'a'.repeat(64);
  const register = { nodeId: 'n1', address: '127.0.0.1:7701', zone: null, capacity: 1, used: 0, chunks: 0, proof: 'b'.repeat(64) };

  it.each([
    ['JSON of the wrong shape', 'chunk.get', []],
    ['a missing field', 'chunk.get', {}],
    ['a bad hash', 'chunk.get', { hash: 'A'.repeat(64), grant: 'g.s' }],
    ['a chunk.get without its grant', 'chunk.get', { hash }],
    ['an empty grant', 'chunk.get', { hash, grant: '' }],
    ['a grant over MAX_GRANT_BYTES', 'chunk.get', { hash, grant: 'g'.repeat(MAX_GRANT_BYTES + 1) }],
    ['a grant that is not a string', 'chunk.get', { hash, grant: 42 }],
    ['a chunk.has without its grant', 'chunk.has', { hashes: [hash] }],
    ['a chunk.replicate without its grant', 'chunk.replicate', { hash, size: 1, source: { id: 'n1', address: '127.0.0.1:7701' } }],
    ['an upload.place chunk without its hash', 'upload.place', { uploadId: 'abcdefgh', chunks: [{ index: 0, size: 1 }] }],
    ['an upload.placed placement without its grant', 'upload.placed', { placements: [{ index: 0, nodes: [] }] }],
    ['a file.chunk-page with an empty grant', 'file.chunk-page', { chunks: [], grant: '' }],
    ['a file.chunks without the name', 'file.chunks', { fileId: 1, from: 0, limit: 10 }],
    ['a field of the wrong type', 'upload.begin', { name: 'a', replicas: '2' }],
    ['a replication factor over the limit', 'upload.begin', { name: 'a', replicas: MAX_REPLICAS + 1 }],
    ['a non-integer size', 'chunk.stored', { hash, size: 1.5, stored: true }],
    ['a chunk over MAX_CHUNK_SIZE', 'chunk.stored', { hash, size: MAX_CHUNK_SIZE + 1, stored: true }],
    ['a bad node id', 'node.register', { ...register, nodeId: 'a b' }],
    ['a bad address', 'node.register', { ...register, address: 'http://x' }],
    ['an https:// address', 'node.register', { ...register, address: 'https://127.0.0.1:7701' }],
    ['a wss:// address without a port', 'node.register', { ...register, address: 'wss://127.0.0.1' }],
    ['a node.register without its proof', 'node.register', { ...register, proof: undefined }],
    ['a proof that is not 64 lowercase hex', 'node.register', { ...register, proof: 'B'.repeat(64) }],
    ['a short nonce', 'node.hello', { nodeId: 'n1', nonce: 'a'.repeat(62) }],
    ['a node.challenge without the grant key', 'node.challenge', { nonce: hash, proof: hash }],
    ['an unknown token scope', 'session.info', { scope: 'root', prefix: null }],
    ['an empty token', 'session.auth', { token: '' }],
    ['a token over 512 characters', 'session.auth', { token: 't'.repeat(513) }],
    ['an unknown scope asked for', 'token.create', { scope: 'superuser' }],
    ['a token prefix with a NUL', 'token.create', { scope: 'read', prefix: 'a\0' }],
    ['a token record without revokedAt', 'token.listed', { tokens: [{ id: 'x', scope: 'read', prefix: null, createdAt: 0 }] }],
    ['a name that is not a string', 'file.stat', { name: 5 }],
    ['a node.chunks limit of 0', 'node.chunks', { limit: 0 }],
    ['a node.chunks limit over MAX_PAGE', 'node.chunks', { limit: MAX_PAGE + 1 }],
    ['a node.chunks cursor that is not a hash', 'node.chunks', { after: 'z', limit: 10 }],
  ] as const)('a body that breaks its schema (%s) is E_BAD_MESSAGE', (_what, type, body) => {
    const err = refusal(() => decodeFrame(controlFrame(type, body, 77)));
    expect(err.code).toBe('E_BAD_MESSAGE');
    expect(err.details?.['requestId']).toBe(77);
  });

  it.each([
    ['absolute', '/etc/passwd'],
    ['traversal', '../x'],
    ['an empty segment', 'a//b'],
    ['a NUL', 'a\0b'],
    ['a lone surrogate', 'a\uD800'],
    ['1025 bytes', 'a'.repeat(MAX_NAME_BYTES + 1)],
    ['far too long', 'a'.repeat(MAX_NAME_BYTES * 5)],
    ['empty', ''],
  ])('a bad name inside upload.begin (%s) is E_NAME_INVALID', (_what, name) => {
    const err = refusal(() => decodeFrame(controlFrame('upload.begin', { name, replicas: 2 }, 8)));
    expect(err.code).toBe('E_NAME_INVALID');
    expect(err.details?.['requestId']).toBe(8);
  });

  it('a bad name in file.stat and file.remove is E_NAME_INVALID too', () => {
    for (const type of ['file.stat', 'file.remove'] as const) {
      expect(refusal(() => decodeFrame(controlFrame(type, { name: 'a/./b' }))).code).toBe('E_NAME_INVALID');
    }
    expect(refusal(() => decodeFrame(controlFrame('file.chunks', { name: '../x', fileId: 1, from: 0, limit: 1 }))).code).toBe('E_NAME_INVALID');
  });

  it("a bad name in a prepared upload's commit is E_NAME_INVALID too", () => {
    const commit = { uploadId: 'abcdefgh', size: 1, sha256: 'a'.repeat(64), chunkCount: 1 };
    expect(refusal(() => decodeFrame(controlFrame('upload.commit', { ...commit, name: 'a/../b' }))).code).toBe('E_NAME_INVALID');
    expect(decodeFrame(controlFrame('upload.commit', { ...commit, name: 'photos/a.jpg' }))).toMatchObject({ body: { name: 'photos/a.jpg' } });
  });

  it.each(['127.0.0.1:7701', 'wss://127.0.0.1:7701', 'ws://node-1.example:7701', 'wss://[::1]:7701', 'wss://[fe80::1]:1'])(
    'accepts the node address %s',
    (address) => {
      const body = { nodeId: 'n1', address, zone: null, capacity: 1, used: 0, chunks: 0, proof: 'b'.repeat(64) };
      expect(decodeFrame(controlFrame('node.register', body))).toStrictEqual({ type: 'node.register', requestId: 7, body });
    },
  );

  it('a frame over MAX_FRAME_SIZE is E_FRAME_TOO_LARGE', () => {
    const frame = Buffer.concat([concatFrame(encodeData('chunk.put', 1, 'a'.repeat(64), new Uint8Array(0))), Buffer.alloc(MAX_FRAME_SIZE)]);
    expect(frame.length).toBeGreaterThan(MAX_FRAME_SIZE);
    expect(refusal(() => decodeFrame(frame)).code).toBe('E_FRAME_TOO_LARGE');
    expect(refusal(() => decodeFrame(Buffer.alloc(MAX_FRAME_SIZE + 1))).code).toBe('E_FRAME_TOO_LARGE');
  });

  it('a data payload over MAX_CHUNK_SIZE (inside MAX_FRAME_SIZE) is E_FRAME_TOO_LARGE, with the request id', () => {
    const header = encodeData('chunk.put', 6, 'b'.repeat(64), new Uint8Array(0))[0];
    const err = refusal(() => decodeFrame(Buffer.concat([header, Buffer.alloc(MAX_CHUNK_SIZE + 1)])));
    expect(err.code).toBe('E_FRAME_TOO_LARGE');
    expect(err.details?.['requestId']).toBe(6);
  });

  it('a control body over MAX_CONTROL_BODY is E_FRAME_TOO_LARGE, with the request id', () => {
    const body = JSON.stringify({ hash: 'a'.repeat(64), pad: 'x'.repeat(MAX_CONTROL_BODY) });
    const err = refusal(() => decodeFrame(rawFrame({ code: MESSAGES['chunk.get'].code, requestId: 9, body })));
    expect(err.code).toBe('E_FRAME_TOO_LARGE');
    expect(err.details?.['requestId']).toBe(9);
  });

  it('a data frame shorter than its hash and grant length is E_FRAME_MALFORMED', () => {
    const header = encodeData('chunk.data', 2, 'c'.repeat(64), new Uint8Array(0))[0];
    expect(header.length).toBe(FRAME_HEADER_SIZE + HASH_BYTES + GRANT_LENGTH_BYTES);
    for (let n = FRAME_HEADER_SIZE; n < header.length; n++) {
      const err = refusal(() => decodeFrame(header.subarray(0, n)));
      expect(err.code).toBe('E_FRAME_MALFORMED');
      expect(err.details?.['requestId']).toBe(2);
    }
    expect(decodeFrame(header)).toMatchObject({ type: 'chunk.data', requestId: 2, grant: '', payload: Buffer.alloc(0) });
  });

  /** A data frame written by hand: header, hash, a claimed grant length, then whatever bytes follow. */
  const dataFrame = (claimedGrantLength: number, rest: Uint8Array, requestId = 21) => {
    const body = Buffer.alloc(HASH_BYTES + GRANT_LENGTH_BYTES);
    body.fill(0xcd, 0, HASH_BYTES);
    body.writeUInt16BE(claimedGrantLength, HASH_BYTES);
    return rawFrame({ code: MESSAGES['chunk.put'].code, requestId, body: Buffer.concat([body, rest]) });
  };

  it.each([
    ['one byte past the end', 4, Buffer.from('abc')],
    ['with nothing behind it', 1, Buffer.alloc(0)],
    ['at the u16 maximum', 0xffff, Buffer.alloc(1000, 0x61)],
  ])('a grant length beyond the frame (%s) is E_FRAME_MALFORMED, with the request id', (_what, length, rest) => {
    const err = refusal(() => decodeFrame(dataFrame(length, rest)));
    expect(err.code).toBe('E_FRAME_MALFORMED');
    expect(err.details?.['requestId']).toBe(21);
  });

  it('a grant length that ends exactly at the frame end is an empty payload', () => {
    expect(decodeFrame(dataFrame(3, Buffer.from('g.s')))).toMatchObject({ type: 'chunk.put', grant: 'g.s', payload: Buffer.alloc(0) });
  });

  it.each([
    ['an invalid two-byte sequence', Uint8Array.of(0xc3, 0x28)],
    ['a lone continuation byte', Uint8Array.of(0x80)],
    ['a truncated sequence', Uint8Array.of(0xe2, 0x82)],
    ['an encoded surrogate', Uint8Array.of(0xed, 0xa0, 0x80)],
    ['an overlong encoding', Uint8Array.of(0xc0, 0xaf)],
    ['0xff', Uint8Array.of(0x67, 0xff)],
  ])('a grant that is not UTF-8 (%s) is E_FRAME_MALFORMED, with the request id', (_what, grantBytes) => {
    const err = refusal(() => decodeFrame(dataFrame(grantBytes.length, Buffer.concat([grantBytes, Buffer.from('payload')]))));
    expect(err.code).toBe('E_FRAME_MALFORMED');
    expect(err.details?.['requestId']).toBe(21);
  });

  it('reads the grant length big-endian and leaves the payload after it untouched', () => {
    const grant = 'é'.repeat(200); // 400 bytes: both bytes of the length matter
    const [header, payload] = encodeData('chunk.put', 5, 'e'.repeat(64), Buffer.from([1, 2, 3]), grant);
    expect(header.readUInt16BE(FRAME_HEADER_SIZE + HASH_BYTES)).toBe(400);
    const frame = decodeFrame(concatFrame([header, payload]));
    expect(frame).toMatchObject({ grant, payload: Buffer.from([1, 2, 3]) });
  });

  it('drops unknown fields of a control body', () => {
    const frame = decodeFrame(controlFrame('chunk.get', { hash: 'd'.repeat(64), grant: 'g.s', extra: 1 }));
    expect(frame).toStrictEqual({ type: 'chunk.get', requestId: 7, body: { hash: 'd'.repeat(64), grant: 'g.s' } });
  });
});

// ---------------------------------------------------------------------------------------------------
// Encoder refusals and error frames
// ---------------------------------------------------------------------------------------------------

describe('encoders refuse what a peer would refuse', () => {
  it.each([
    ['a bad hash', 'chunk.get', { hash: 'xyz' }],
    ['a missing field', 'upload.commit', { uploadId: 'abcdefgh', size: 1, sha256: 'a'.repeat(64) }],
    ['a bad name', 'upload.begin', { name: '../etc' }],
    ['a negative size', 'node.heartbeat', { capacity: -1, used: 0, chunks: 0 }],
    ['a chunk stored on no node', 'upload.stored', { uploadId: 'abcdefgh', chunks: [{ index: 0, hash: 'a'.repeat(64), size: 1, nodes: [] }] }],
  ] as const)('encodeControl of an invalid body (%s) throws E_BAD_MESSAGE', (_what, type, body) => {
    expect(refusal(() => encodeControl(type, 1, body as never)).code).toBe('E_BAD_MESSAGE');
  });

  it.each([-1, 1.5, MAX_REQUEST_ID + 1, Number.NaN])('request id %p is E_BAD_MESSAGE', (id) => {
    expect(refusal(() => encodeControl('ack', id, {})).code).toBe('E_BAD_MESSAGE');
    expect(refusal(() => encodeData('chunk.put', id, 'a'.repeat(64), new Uint8Array(1))).code).toBe('E_BAD_MESSAGE');
  });

  it('a control body over MAX_CONTROL_BODY is E_FRAME_TOO_LARGE', () => {
    const node = { id: 'n'.repeat(64), address: `${'h'.repeat(290)}:7701`, zone: null, state: 'alive' as const, capacity: 1, used: 0, chunks: 0, lastSeen: 0 };
    const nodes = Array.from({ length: 10_000 }, () => node);
    expect(refusal(() => encodeControl('nodes.info', 1, { nodes })).code).toBe('E_FRAME_TOO_LARGE');
  });

  it('encodeData refuses a bad hash with E_BAD_MESSAGE and an oversized chunk with E_FRAME_TOO_LARGE', () => {
    for (const hash of ['', 'A'.repeat(64), 'a'.repeat(63), 'a'.repeat(65), 'g'.repeat(64)]) {
      expect(refusal(() => encodeData('chunk.put', 1, hash, new Uint8Array(1))).code).toBe('E_BAD_MESSAGE');
    }
    expect(refusal(() => encodeData('chunk.data', 1, 'a'.repeat(64), new Uint8Array(MAX_CHUNK_SIZE + 1))).code).toBe('E_FRAME_TOO_LARGE');
  });

  it('encodeData refuses a grant over MAX_GRANT_BYTES (in UTF-8 bytes) with E_FRAME_TOO_LARGE', () => {
    expect(refusal(() => encodeData('chunk.put', 1, 'a'.repeat(64), new Uint8Array(1), 'g'.repeat(MAX_GRANT_BYTES + 1))).code).toBe('E_FRAME_TOO_LARGE');
    const multiByte = 'é'.repeat(Math.ceil((MAX_GRANT_BYTES + 1) / 2)); // few characters, too many bytes
    expect(refusal(() => encodeData('chunk.put', 1, 'a'.repeat(64), new Uint8Array(1), multiByte)).code).toBe('E_FRAME_TOO_LARGE');
  });

  it('encodeData carries the largest grant its u16 length field can describe', () => {
    const grant = 'g'.repeat(0xffff);
    const frame = decodeFrame(concatFrame(encodeData('chunk.put', 1, 'a'.repeat(64), Buffer.from('x'), grant)));
    expect(frame).toMatchObject({ grant, payload: Buffer.from('x') });
  });

  // KNOWN BUG (reported): MAX_GRANT_BYTES is 96 KiB but the data-frame grant length is a u16, so a
  // grant of 65536..98304 bytes passes encodeData's check and then Buffer.writeUInt16BE throws a
  // RangeError — not a CairnError. Remove `.failing` once encodeData refuses it with E_FRAME_TOO_LARGE.
  it('encodeData refuses a grant longer than its u16 length field with a CairnError', () => {
    expect(0xffff + 1).toBeLessThanOrEqual(MAX_GRANT_BYTES);
    expect(refusal(() => encodeData('chunk.put', 1, 'a'.repeat(64), new Uint8Array(1), 'g'.repeat(0xffff + 1))).code).toBe('E_FRAME_TOO_LARGE');
  });

  // KNOWN GAP (reported): the decoder's TextDecoder strips a leading byte-order mark, so a data-frame
  // grant starting with U+FEFF does not round-trip. Harmless for real grants (base64url, ASCII).
  it('a data-frame grant starting with U+FEFF round-trips', () => {
    const frame = decodeFrame(concatFrame(encodeData('chunk.put', 1, 'a'.repeat(64), new Uint8Array(0), '\uFEFFg.s')));
    expect(frame).toMatchObject({ grant: '\uFEFFg.s' });
  });
});

describe('errorFromWire', () => {
  it.each(ERROR_CODES)('keeps the known code %s', (code) => {
    const err = errorFromWire({ code, message: 'm' });
    expect(err).toBeInstanceOf(CairnError);
    expect(err.code).toBe(code);
  });

  it.each(['E_FROM_THE_FUTURE', '', 'e_not_found', 'toString', '__proto__'])('maps the unknown code %p to E_INTERNAL', (code) => {
    const err = errorFromWire({ code, message: 'from a newer peer' });
    expect(err).toBeInstanceOf(CairnError);
    expect(err.code).toBe('E_INTERNAL');
  });
});
