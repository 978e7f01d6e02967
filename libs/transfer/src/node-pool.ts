import { RpcPeer } from './rpc-peer';
import { ConnectOptions, connectPeer } from './connect';

/**
 * One connection per storage node, opened on first use and dropped when it closes. It also counts
 * requests in flight per node, so readers can prefer the least busy replica.
 */
export class NodePool {
  private readonly peers = new Map<string, Promise<RpcPeer>>();
  private readonly inFlight = new Map<string, number>();

  constructor(private readonly connectOptions: ConnectOptions = {}) {}

  peer(address: string): Promise<RpcPeer> {
    let peer = this.peers.get(address);
    if (!peer) {
      peer = connectPeer(address, { ...this.connectOptions, lean: true }); // chunks arrive here: read them in place
      this.peers.set(address, peer);
      peer.then(
        (p) => void p.closed.then(() => this.forget(address, peer)),
        () => this.forget(address, peer),
      );
    }
    return peer;
  }

  /** Runs `fn` against a node's connection, counting it as in flight meanwhile. */
  async use<T>(address: string, fn: (peer: RpcPeer) => Promise<T>): Promise<T> {
    this.inFlight.set(address, (this.inFlight.get(address) ?? 0) + 1);
    try {
      return await fn(await this.peer(address));
    } finally {
      this.inFlight.set(address, (this.inFlight.get(address) ?? 1) - 1);
    }
  }

  load(address: string): number {
    return this.inFlight.get(address) ?? 0;
  }

  async close(): Promise<void> {
    const peers = [...this.peers.values()];
    this.peers.clear();
    for (const settled of await Promise.allSettled(peers)) {
      if (settled.status === 'fulfilled') settled.value.close(1000, '', { discardQueued: true });
    }
  }

  private forget(address: string, peer: Promise<RpcPeer> | undefined): void {
    if (this.peers.get(address) === peer) this.peers.delete(address);
  }
}
