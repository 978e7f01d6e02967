/**
 * The fixed header every frame starts with (big-endian):
 *
 *   offset 0  u8   protocol version (PROTOCOL_VERSION)
 *   offset 1  u8   message type (MESSAGES[type].code)
 *   offset 2  u16  flags, reserved: senders write 0, receivers refuse anything else
 *   offset 4  u32  request id: a response carries the id of its request; 0 = not a request
 *
 * Control bodies follow as UTF-8 JSON. Data bodies follow as a 32-byte binary SHA-256, a u16 grant
 * length, that many bytes of grant (UTF-8; 0 for chunk.data), and then the raw bytes up to the end of
 * the frame (the WebSocket message boundary gives the length).
 */
export const OFFSET_VERSION = 0;
export const OFFSET_TYPE = 1;
export const OFFSET_FLAGS = 2;
export const OFFSET_REQUEST_ID = 4;
export const HASH_BYTES = 32;
export const GRANT_LENGTH_BYTES = 2;
/** A data frame's grant length is a u16 (a put grant names one chunk: a few hundred bytes). */
export const MAX_DATA_FRAME_GRANT_BYTES = 0xffff;
export const MAX_REQUEST_ID = 0xffffffff;
