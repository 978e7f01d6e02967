export {
  CairnClient,
  DEFAULT_CONTROLLER,
  type CairnClientOptions,
  type CairnLogger,
  type CallOptions,
  type PutSource,
  type FileStat,
  type StatChunk,
  type ClusterStatus,
} from './cairn-client';
export type { PutOptions, TransferProgress } from './uploader';
export type { GetOptions } from './downloader';
export { RpcPeer, expectFrame, type Reply, type RequestHandler, type RpcPeerOptions, type RequestOptions } from './rpc-peer';
export { connectPeer, type ConnectOptions } from './connect';
export { addressGroup } from './address-group';
export { ReceiveBuffers } from './receive-buffers';
export { attachRpcServer, type ReceiveMemory, type RpcServer, type RpcServerOptions } from './rpc-server';
export { toWebSocketUrl, WS_PATH } from './endpoint';
export { fixedChunks } from './chunker';
export { Window } from './window';
export { InboundBudget, type Pausable } from './inbound-budget';
export { UNCHECKED_STALE_MS, UncheckedMessages, type MessageSender } from './unchecked-messages';
export { CLOSE_CODE, WebSocketFrameError, type HeadPeek } from './websocket-frame-reader';
export { NodePool } from './node-pool';
export { sha256 } from './hashing';
export { removeUnfinishedWrites, writeFileAtomically } from './atomic-file';
export {
  createHttpHandler,
  createProbeHandler,
  requireAuthorized,
  sendJson,
  sendText,
  type HttpAuthorizer,
  type HttpHandlerOptions,
  type HttpRoute,
} from './http-probes';
export { createProcessServer, HEADERS_TIMEOUT_MS, REQUEST_TIMEOUT_MS, type TlsFiles } from './process-server';
export { listen } from './listen';
export { localFileError, noDirectoryFor, withLocalErrors, type Reasons } from './local-errors';
export { checkConfigFile, isFlagGiven, kebabCase, oneOf, optionSource, refuseStrayWords, yargsUsageError, type LoadedConfig, type OptionKind } from './server-options';
export { checkCaFile, checkDataDirectory, checkTlsFiles } from './option-files';
export { defaultToken, readTokenFile, LOCAL_ADMIN_TOKEN_PATH } from './credentials';
export { defaultConfigPath, readConfigFile } from './config-file';
export { RPC_LATENCY_BUCKETS, createRpcMetrics, serveMetrics } from './rpc-metrics';
export { LOG_FORMATS, LOG_LEVELS, REDACTED_PATHS, createProcessLogger, type LogFormat, type LogLevel, type ProcessLoggerOptions } from './process-logger';
export { runMain, stopOnSignals } from './process-lifecycle';
export { DATA_DIR_LOCK_FILE, lockDataDirectory, type DataDirLock } from './data-dir-lock';
export { tuneGarbageCollectorForChunks } from './gc-tuning';
