import { CairnError } from './errors';
import { FRAME_HEADER_SIZE, MAX_CHUNK_SIZE, MAX_CONTROL_BODY, PROTOCOL_VERSION } from './limits';
import { GRANT_LENGTH_BYTES, HASH_BYTES, MAX_DATA_FRAME_GRANT_BYTES, MAX_REQUEST_ID, OFFSET_FLAGS, OFFSET_REQUEST_ID, OFFSET_TYPE, OFFSET_VERSION } from './frame-layout';
import { MAX_GRANT_BYTES } from './grants';
import { Body, ControlType, DataType, MESSAGES, schemaOf } from './messages';

/**
 * Frame encoders. They validate what they send, so a bug of ours is caught here rather than by the
 * peer. No I/O: callers hand the buffers to their socket.
 */
export function encodeControl<T extends ControlType>(type: T, requestId: number, body: Body<T>): Buffer {
  const parsed = schemaOf(type).safeParse(body);
  if (!parsed.success) {
    throw new CairnError('E_BAD_MESSAGE', `refusing to send an invalid ${type}: ${parsed.error.issues[0]?.message}`);
  }
  const json = Buffer.from(JSON.stringify(parsed.data), 'utf8');
  if (json.length > MAX_CONTROL_BODY) {
    throw new CairnError('E_FRAME_TOO_LARGE', `${type} body is ${json.length} bytes, limit ${MAX_CONTROL_BODY}`);
  }
  const frame = Buffer.allocUnsafe(FRAME_HEADER_SIZE + json.length);
  writeHeader(frame, MESSAGES[type].code, requestId);
  json.copy(frame, FRAME_HEADER_SIZE);
  return frame;
}

/**
 * A data frame as two parts, header (with the hash) and payload, so a sender can hand the payload to
 * the socket without copying it into a new buffer. `concatFrame` joins them where one buffer is needed.
 */
export function encodeData(type: DataType, requestId: number, hash: string, payload: Uint8Array, grant = ''): [Buffer, Uint8Array] {
  if (payload.length > MAX_CHUNK_SIZE) {
    throw new CairnError('E_FRAME_TOO_LARGE', `chunk of ${payload.length} bytes, limit ${MAX_CHUNK_SIZE}`);
  }
  if (!/^[0-9a-f]{64}$/.test(hash)) throw new CairnError('E_BAD_MESSAGE', 'a data frame needs a SHA-256 hex hash');
  const grantBytes = Buffer.from(grant, 'utf8');
  if (grantBytes.length > Math.min(MAX_GRANT_BYTES, MAX_DATA_FRAME_GRANT_BYTES)) {
    throw new CairnError('E_FRAME_TOO_LARGE', `grant of ${grantBytes.length} bytes does not fit a data frame`);
  }
  const header = Buffer.allocUnsafe(FRAME_HEADER_SIZE + HASH_BYTES + GRANT_LENGTH_BYTES + grantBytes.length);
  writeHeader(header, MESSAGES[type].code, requestId);
  header.write(hash, FRAME_HEADER_SIZE, 'hex');
  header.writeUInt16BE(grantBytes.length, FRAME_HEADER_SIZE + HASH_BYTES);
  grantBytes.copy(header, FRAME_HEADER_SIZE + HASH_BYTES + GRANT_LENGTH_BYTES);
  return [header, payload];
}

export function concatFrame(parts: readonly Uint8Array[]): Buffer {
  return Buffer.concat(parts);
}

/** The `error` body's message limit, from its schema. */
const MAX_ERROR_MESSAGE = MESSAGES.error.body.shape.message.maxLength ?? 4096;

/** Always encodable: a message longer than the `error` body allows is cut (an error must never fail to send). */
export function encodeError(requestId: number, error: CairnError): Buffer {
  const { code, message } = error.toWire();
  const clipped = message.length > MAX_ERROR_MESSAGE ? `${message.slice(0, MAX_ERROR_MESSAGE - 1)}…` : message;
  return encodeControl('error', requestId, { code, message: clipped });
}

function writeHeader(frame: Buffer, code: number, requestId: number): void {
  if (!Number.isInteger(requestId) || requestId < 0 || requestId > MAX_REQUEST_ID) {
    throw new CairnError('E_BAD_MESSAGE', `request id out of range: ${requestId}`);
  }
  frame.writeUInt8(PROTOCOL_VERSION, OFFSET_VERSION);
  frame.writeUInt8(code, OFFSET_TYPE);
  frame.writeUInt16BE(0, OFFSET_FLAGS);
  frame.writeUInt32BE(requestId, OFFSET_REQUEST_ID);
}
