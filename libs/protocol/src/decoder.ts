import { CairnError, ErrorCode, isErrorCode } from './errors';
import { FRAME_HEADER_SIZE, MAX_CHUNK_SIZE, MAX_CONTROL_BODY, MAX_FRAME_SIZE, PROTOCOL_VERSION } from './limits';
import { GRANT_LENGTH_BYTES, HASH_BYTES, OFFSET_FLAGS, OFFSET_REQUEST_ID, OFFSET_TYPE, OFFSET_VERSION } from './frame-layout';
import { MAX_GRANT_BYTES } from './grants';
import { ControlType, type DataType, Frame, isDataType, messageTypeOf, schemaOf } from './messages';

const utf8 = new TextDecoder('utf-8', { fatal: true });
/** Messages whose only free-form text is a file name or prefix. */
const NAME_ONLY_TEXT: ReadonlySet<string> = new Set(['upload.begin', 'upload.commit', 'file.stat', 'file.chunks', 'file.remove', 'file.list']);
/** Grants are opaque: keep a leading U+FEFF as it was sent. */
const utf8Exact = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** How many of a frame's first bytes `dataPayloadOffset` needs: the header, a hash and a grant length. */
export const DATA_PREFIX_BYTES = FRAME_HEADER_SIZE + HASH_BYTES + GRANT_LENGTH_BYTES;

/**
 * Where a data frame's payload (its chunk) begins, read from the frame's first DATA_PREFIX_BYTES bytes,
 * so that a receiver can place the rest of the message where the chunk is wanted; undefined for
 * anything that does not start like a data frame of this version. A hint only: the whole frame is
 * decoded (and checked) by `decodeFrame` once it has arrived.
 */
export function dataPayloadOffset(prefix: Uint8Array): number | undefined {
  if (prefix.length < DATA_PREFIX_BYTES || prefix[OFFSET_VERSION] !== PROTOCOL_VERSION) return undefined;
  const type = messageTypeOf(prefix[OFFSET_TYPE]);
  if (type === undefined || !isDataType(type)) return undefined;
  const grantLength = (prefix[FRAME_HEADER_SIZE + HASH_BYTES] << 8) | prefix[FRAME_HEADER_SIZE + HASH_BYTES + 1];
  return grantLength > MAX_GRANT_BYTES ? undefined : DATA_PREFIX_BYTES + grantLength;
}

/** What a data frame's head (its bytes up to its payload) says: read before the payload arrives. */
export interface DataHead {
  type: DataType;
  hash: string;
  grant: string;
  /** Where the payload begins (`dataPayloadOffset`). */
  payloadOffset: number;
}

/**
 * The type, chunk hash and grant of a data frame, from its first `dataPayloadOffset` bytes or more;
 * undefined for anything else (too short, a control frame, another version, a grant that is not
 * UTF-8). As `dataPayloadOffset`, a look ahead: the whole frame is decoded and checked on arrival.
 */
export function readDataHead(head: Uint8Array): DataHead | undefined {
  const payloadOffset = dataPayloadOffset(head);
  if (payloadOffset === undefined || head.length < payloadOffset) return undefined;
  let grant: string;
  try {
    grant = utf8Exact.decode(head.subarray(DATA_PREFIX_BYTES, payloadOffset));
  } catch {
    return undefined;
  }
  const type = messageTypeOf(head[OFFSET_TYPE]) as DataType;
  const hash = Buffer.from(head.buffer, head.byteOffset + FRAME_HEADER_SIZE, HASH_BYTES).toString('hex');
  return { type, hash, grant, payloadOffset };
}

/**
 * Decodes one frame (one WebSocket message). Never trusts a length or a field: anything wrong becomes
 * a CairnError with a protocol code, and nothing else is ever thrown. When the header could be read,
 * the error's details carry the request id so the receiver can answer that request with an error frame.
 */
export function decodeFrame(bytes: Uint8Array): Frame {
  if (bytes.length > MAX_FRAME_SIZE) {
    throw new CairnError('E_FRAME_TOO_LARGE', `frame of ${bytes.length} bytes, limit ${MAX_FRAME_SIZE}`);
  }
  if (bytes.length < FRAME_HEADER_SIZE) {
    throw new CairnError('E_FRAME_MALFORMED', `frame of ${bytes.length} bytes is shorter than its header`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const requestId = view.getUint32(OFFSET_REQUEST_ID);
  const fail = (code: ErrorCode, message: string) => new CairnError(code, message, { requestId });

  const version = view.getUint8(OFFSET_VERSION);
  if (version !== PROTOCOL_VERSION) {
    throw fail('E_VERSION', `protocol version ${version} is not supported (this peer speaks ${PROTOCOL_VERSION})`);
  }
  if (view.getUint16(OFFSET_FLAGS) !== 0) throw fail('E_FRAME_MALFORMED', 'reserved flags are set');
  const type = messageTypeOf(view.getUint8(OFFSET_TYPE));
  if (type === undefined) throw fail('E_UNKNOWN_TYPE', `unknown message type 0x${view.getUint8(OFFSET_TYPE).toString(16)}`);

  const body = bytes.subarray(FRAME_HEADER_SIZE);
  if (isDataType(type)) {
    if (body.length < HASH_BYTES + GRANT_LENGTH_BYTES) throw fail('E_FRAME_MALFORMED', `${type} is shorter than its header`);
    const grantLength = (body[HASH_BYTES] << 8) | body[HASH_BYTES + 1];
    const payloadStart = HASH_BYTES + GRANT_LENGTH_BYTES + grantLength;
    if (grantLength > MAX_GRANT_BYTES || payloadStart > body.length) throw fail('E_FRAME_MALFORMED', `${type} grant length out of bounds`);
    let grant: string;
    try {
      grant = utf8Exact.decode(body.subarray(HASH_BYTES + GRANT_LENGTH_BYTES, payloadStart));
    } catch {
      throw fail('E_FRAME_MALFORMED', `${type} grant is not UTF-8`);
    }
    const payload = body.subarray(payloadStart);
    if (payload.length > MAX_CHUNK_SIZE) throw fail('E_FRAME_TOO_LARGE', `chunk of ${payload.length} bytes`);
    return { type, requestId, hash: Buffer.from(body.subarray(0, HASH_BYTES)).toString('hex'), grant, payload };
  }

  if (body.length > MAX_CONTROL_BODY) throw fail('E_FRAME_TOO_LARGE', `${type} body of ${body.length} bytes`);
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    // In these messages a name is the only free text: bad bytes there are a bad name.
    throw fail(NAME_ONLY_TEXT.has(type) ? 'E_NAME_INVALID' : 'E_FRAME_MALFORMED', `${type} body is not valid UTF-8`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw fail('E_FRAME_MALFORMED', `${type} body is not JSON`);
  }
  const parsed = schemaOf(type as ControlType).safeParse(json);
  if (!parsed.success) {
    // A field may fail several checks (a 5000-character name fails both `max` and the name rule); the
    // issue tagged with a Cairn code wins, so a bad name is E_NAME_INVALID whatever else is wrong.
    const cairnCode = (i: unknown) => (i as { params?: { cairnCode?: unknown } } | undefined)?.params?.cairnCode;
    const issue = parsed.error.issues.find((i) => isErrorCode(cairnCode(i))) ?? parsed.error.issues[0];
    const tagged = cairnCode(issue);
    const code: ErrorCode = isErrorCode(tagged) ? tagged : 'E_BAD_MESSAGE';
    const where = issue?.path.length ? ` at ${issue.path.join('.')}` : '';
    throw fail(code, `invalid ${type}${where}: ${issue?.message ?? 'schema mismatch'}`);
  }
  return { type, requestId, body: parsed.data } as Frame;
}

/** Turns an `error` frame body back into a CairnError (unknown codes from a newer peer become E_INTERNAL). */
export function errorFromWire(body: { code: string; message: string }): CairnError {
  return new CairnError(isErrorCode(body.code) ? body.code : 'E_INTERNAL', body.message);
}
