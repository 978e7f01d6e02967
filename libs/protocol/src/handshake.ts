import { createHmac, scryptSync, timingSafeEqual } from 'node:crypto';

/**
 * Node ↔ controller mutual authentication by challenge–response over the cluster secret. Each side
 * sends a fresh random nonce; each proves knowledge of the secret with an HMAC-SHA256 over both nonces,
 * the node id and a role label (so a proof cannot be reflected back), and the controller's proof also
 * covers its grant public key (so a node can trust the key it receives). The secret never crosses the
 * wire, and a replayed proof fails against the other side's fresh nonce. Every MAC is keyed with the
 * secret stretched by scrypt (`clusterKey`), not the secret itself.
 */
export const NONCE_BYTES = 32;
const HEX_MAC = /^[0-9a-f]{64}$/;

export interface HandshakeTranscript {
  nodeId: string;
  nodeNonce: string;
  controllerNonce: string;
  /** The controller's grant public key (SPKI PEM), bound into its proof. */
  grantPublicKey: string;
}

export function controllerProof(secret: string, t: HandshakeTranscript): string {
  return mac(secret, ['cairn/1 controller', t.nodeId, t.nodeNonce, t.controllerNonce, t.grantPublicKey]);
}

export function nodeProof(secret: string, t: HandshakeTranscript): string {
  return mac(secret, ['cairn/1 node', t.nodeId, t.nodeNonce, t.controllerNonce, t.grantPublicKey]);
}

/**
 * A node's receipt for a chunk it stored durably for an upload: the controller records a chunk location
 * only with a receipt from that node, so a client cannot claim chunks (another tenant's, say) that it
 * never stored under this upload's grant.
 */
export function storeReceipt(secret: string, r: { nodeId: string; hash: string; uploadId: string }): string {
  return mac(secret, ['cairn/1 receipt', r.nodeId, r.hash, r.uploadId]);
}

/** Constant-time comparison of two hex MACs. */
export function proofsEqual(a: string, b: string): boolean {
  if (!HEX_MAC.test(a) || !HEX_MAC.test(b)) return false;
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}

/**
 * scrypt's cost: N = 2^15, r = 8, p = 1 (32 MiB, ~0.1 s here). Proofs and receipts are seen by whoever
 * talks to a node or the controller (a receipt by any client that writes), and each is a MAC of known
 * text: keyed with the secret itself, a secret an operator chose (`CAIRN_CLUSTER_SECRET`, 16 characters
 * at least) could be guessed offline at HMAC's speed, billions a second. Stretched, each guess costs
 * this much, and memory a GPU lacks. The generated secret (32 random bytes) needs none of it.
 */
const STRETCH = { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };
const STRETCH_SALT = 'cairn/1 cluster key';
/** Keys derived so far, by secret: a process has one secret (tests a few), and pays the cost once. */
const derivedKeys = new Map<string, Buffer>();
const MAX_DERIVED_KEYS = 16;

/** The key every MAC here is made with: `secret` stretched by scrypt, derived once per process. */
export function clusterKey(secret: string): Buffer {
  let key = derivedKeys.get(secret);
  if (!key) {
    key = scryptSync(secret, STRETCH_SALT, 32, STRETCH);
    if (derivedKeys.size >= MAX_DERIVED_KEYS) derivedKeys.clear();
    derivedKeys.set(secret, key);
  }
  return key;
}

function mac(secret: string, parts: string[]): string {
  const hmac = createHmac('sha256', clusterKey(secret));
  for (const part of parts) {
    const bytes = Buffer.from(part, 'utf8');
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    hmac.update(length).update(bytes); // length-prefixed, so fields cannot be shifted into each other
  }
  return hmac.digest('hex');
}
