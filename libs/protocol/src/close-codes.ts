/**
 * WebSocket close codes of our own (4000–4999 are the application's). A peer learns from the code
 * why its connection ended; the SDK ends the transfers of a client whose token was revoked.
 */
export const CLOSE_CODES = {
  /** The controller closed a node's connection: replaced by a newer one, forgotten, or unanswering. */
  closedByController: 4000,
  /** The token the connection authenticated with was revoked. */
  tokenRevoked: 4001,
} as const;
