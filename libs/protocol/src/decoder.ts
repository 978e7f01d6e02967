import { CairnError, ErrorCode, isErrorCode } from './errors';
import { FRAME_HEADER_SIZE, MAX_CHUNK_SIZE, MAX_CONTROL_BODY, MAX_FRAME_SIZE, PROTOCOL_VERSION } from './limits';
import { HASH_BYTES, OFFSET_FLAGS, OFFSET_REQUEST_ID, OFFSET_TYPE, OFFSET_VERSION } from './frame-layout';
import { ControlType, Frame, isDataType, messageTypeOf, schemaOf } from './messages';

const utf8 = new TextDecoder('utf-8', { fatal: true });

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
    if (body.length < HASH_BYTES) throw fail('E_FRAME_MALFORMED', `${type} is shorter than its hash`);
    const payload = body.subarray(HASH_BYTES);
    if (payload.length > MAX_CHUNK_SIZE) throw fail('E_FRAME_TOO_LARGE', `chunk of ${payload.length} bytes`);
    return { type, requestId, hash: Buffer.from(body.subarray(0, HASH_BYTES)).toString('hex'), payload };
  }

  if (body.length > MAX_CONTROL_BODY) throw fail('E_FRAME_TOO_LARGE', `${type} body of ${body.length} bytes`);
  let json: unknown;
  try {
    json = JSON.parse(utf8.decode(body));
  } catch {
    throw fail('E_FRAME_MALFORMED', `${type} body is not UTF-8 JSON`);
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
