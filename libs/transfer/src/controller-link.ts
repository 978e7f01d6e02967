import { type Body, type ControlType, type Frame, isCairnError } from '@cairn/protocol';
import type { RequestOptions, RpcPeer } from './rpc-peer';

/**
 * How a transfer reaches the controller: the client's connection of the moment, asked for anew for
 * each request. A transfer can outlive a connection (the controller closes one that carried nothing for
 * its `--idle-timeout` while a reader or a source is slow, or it restarts), and the client replaces a
 * closed connection on the next call. A file id pins the version a get reads, and an upload begun is
 * the upload of its name from any connection of a token allowed that name (the controller's
 * `uploadAllowed`), so neither is bound to the connection it started on. `signal` stops the wait for a
 * connection (E_ABORTED): a request's own signal, so that the requests that end an aborted put still go.
 */
export type ControllerLink = (signal?: AbortSignal) => Promise<RpcPeer>;

export interface ControllerRequestOptions extends RequestOptions {
  /**
   * The request may go out twice (it only reads, or a second time changes nothing more): if the
   * connection it went out on closes before the answer, it is sent once more on the next connection.
   * Anything else then fails with E_UNAVAILABLE, as whether the controller did it is not known.
   */
  repeatable?: boolean;
}

/** One request to the controller, on the link's connection of the moment; its signal covers the wait for that connection too. */
export async function requestController<T extends ControlType>(
  link: ControllerLink,
  type: T,
  body: Body<T>,
  { repeatable = false, ...options }: ControllerRequestOptions = {},
): Promise<Frame> {
  const peer = await link(options.signal);
  try {
    return await peer.request(type, body, options);
  } catch (err) {
    if (!repeatable || peer.isOpen || !isCairnError(err, 'E_UNAVAILABLE')) throw err;
    return (await link(options.signal)).request(type, body, options);
  }
}
