export * from './errors';
export * from './limits';
export * from './names';
export * from './close-codes';
export { MAX_REQUEST_ID, HASH_BYTES, OFFSET_VERSION } from './frame-layout';
export { sha256Hex, fileName, isNodeAddress, isNodeId } from './schemas';
export {
  MESSAGES,
  messageTypeOf,
  isDataType,
  isResponseType,
  type MessageType,
  type ControlType,
  type DataType,
  type Body,
  type ControlFrame,
  type DataFrame,
  type Frame,
  type FileInfo,
  type NodeInfo,
  type NodeRef,
  type NodeState,
} from './messages';
export { encodeControl, encodeData, encodeError, concatFrame } from './encoder';
export { DATA_PREFIX_BYTES, type DataHead, dataPayloadOffset, decodeFrame, errorFromWire, readDataHead } from './decoder';
export * from './units';
export * from './config-env';
export * from './grants';
export * from './grant-checker';
export * from './handshake';
export * from './tokens';
export * from './claims';
export * from './manifest-sha256';
