import type { Body, ControlType } from '@cairn/protocol';
import type { Reply } from '@cairn/transfer';

/** The body of a handler's reply, which must be of `type`: a test's way to read what it asked for. */
export function answer<T extends ControlType>(reply: Reply, type: T): Body<T> {
  if (reply.type !== type) throw new Error(`expected ${type}, got ${reply.type}`);
  return (reply as unknown as { body: Body<T> }).body;
}
