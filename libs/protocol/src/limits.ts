/**
 * Every size limit of the wire, in one place. Peers enforce them on input; nothing trusts a length
 * it did not check against these.
 */
/**
 * 2 (27 Nov 2026): a grant may be one of a batch signed once (grant-format.ts), which a version-1
 * node would refuse as malformed. docs/protocol.md, "Versioning".
 */
export const PROTOCOL_VERSION = 2;

const KiB = 1024;
const MiB = 1024 * KiB;

/** Default chunk size used by clients (docs/architecture.md explains the choice). */
export const DEFAULT_CHUNK_SIZE = 4 * MiB;
/** The largest chunk any peer accepts. */
export const MAX_CHUNK_SIZE = 16 * MiB;
/** Fixed frame header: version, type, flags, request id. */
export const FRAME_HEADER_SIZE = 8;
/** The largest control (JSON) body; large lists are paged instead of growing this. */
export const MAX_CONTROL_BODY = 1 * MiB;
/** The largest frame of any kind: a full chunk plus its binary header. */
export const MAX_FRAME_SIZE = MAX_CHUNK_SIZE + 4 * KiB;
/**
 * The largest control frame (header and JSON body): all a process that never takes chunk data (the
 * controller) has to accept, so that a peer's unfinished message can hold no more than this there.
 */
export const MAX_CONTROL_FRAME_SIZE = FRAME_HEADER_SIZE + MAX_CONTROL_BODY;
/** A file name, in UTF-8 bytes. */
export const MAX_NAME_BYTES = 1024;
/** Entries per paged list message (chunks of a manifest, files of a listing, hashes asked for). */
export const MAX_PAGE = 1000;
/** Most uploads one `upload.prepare` opens ahead of their files. */
export const MAX_PREPARED_UPLOADS = 64;
/** Largest replication factor anyone may ask for. */
export const MAX_REPLICAS = 16;
/** Largest file size we accept (2^53 - 1 keeps sizes exact in JSON numbers). */
export const MAX_FILE_SIZE = Number.MAX_SAFE_INTEGER;

// --- Limits on peers (every server enforces them; docs/security.md lists them) ---

/** WebSocket connections one process accepts at once. */
export const MAX_CONNECTIONS = 1024;
/** WebSocket connections from one remote address at once. */
export const MAX_CONNECTIONS_PER_ADDRESS = 256;
/** Requests one connection may have in flight; more are answered E_UNAVAILABLE at once. */
export const MAX_REQUESTS_IN_FLIGHT = 64;
/**
 * Of those, how many chunk reads (`chunk.get`) are worked on at once (read, then their answer handed to
 * the socket); the others wait their turn holding nothing but their request. This, times the chunk
 * size, bounds what one connection's reads can pin (plus what its socket has buffered: up to 8 MiB
 * before answers wait).
 */
export const MAX_REQUESTS_ANSWERED_AT_ONCE = 8;
/**
 * A connection with no complete frame either way for this long is closed: a peer trickling a frame
 * one byte at a time (slow-loris) does not hold a socket. Nodes heartbeat far more often.
 */
export const DEFAULT_IDLE_TIMEOUT_MS = 60_000;
