import type { Logger } from 'pino';
import { toCairnError } from '@cairn/protocol';
import type { ChunkStore } from '@cairn/chunk-store';
import { RpcPeer, connectPeer, expectFrame } from '@cairn/transfer';

export interface ControllerLinkOptions {
  controller: string;
  nodeId: string;
  address: string;
  zone: string | null;
  store: ChunkStore;
  log: Logger;
}

const RECONNECT_MIN_MS = 100;
const RECONNECT_MAX_MS = 5_000;

/**
 * Keeps the node registered with the controller: connect, register, heartbeat with current usage, and
 * on any failure reconnect with capped exponential backoff. The node keeps serving chunks meanwhile.
 */
export class ControllerLink {
  private stopped = false;
  private peer: RpcPeer | undefined;
  private timer: NodeJS.Timeout | undefined;
  private registeredOnce = false;

  constructor(private readonly options: ControllerLinkOptions) {}

  get registered(): boolean {
    return this.registeredOnce;
  }

  start(): void {
    void this.run();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.peer?.close();
  }

  private async run(): Promise<void> {
    let backoff = RECONNECT_MIN_MS;
    while (!this.stopped) {
      try {
        const peer = await connectPeer(this.options.controller, { connectTimeoutMs: 5_000, requestTimeoutMs: 10_000 });
        this.peer = peer;
        const heartbeatMs = await this.register(peer);
        backoff = RECONNECT_MIN_MS;
        await this.heartbeatUntilClosed(peer, heartbeatMs);
      } catch (err) {
        if (this.stopped) return;
        this.options.log.warn({ code: toCairnError(err).code }, `controller link: ${toCairnError(err).message}`);
      }
      this.peer?.close();
      if (this.stopped) return;
      await new Promise((resolve) => (this.timer = setTimeout(resolve, backoff)));
      backoff = Math.min(backoff * 2, RECONNECT_MAX_MS);
    }
  }

  private async register(peer: RpcPeer): Promise<number> {
    const { nodeId, address, zone, store } = this.options;
    const answer = await peer.request('node.register', { nodeId, address, zone, ...store.stats() });
    const { heartbeatMs } = expectFrame(answer, 'node.registered').body;
    this.registeredOnce = true;
    this.options.log.info({ controller: this.options.controller, nodeId }, 'registered with the controller');
    return heartbeatMs;
  }

  private async heartbeatUntilClosed(peer: RpcPeer, heartbeatMs: number): Promise<void> {
    while (!this.stopped && peer.isOpen) {
      await new Promise((resolve) => (this.timer = setTimeout(resolve, heartbeatMs)));
      if (this.stopped || !peer.isOpen) return;
      expectFrame(await peer.request('node.heartbeat', this.options.store.stats(), { timeoutMs: 10_000 }), 'ack');
    }
  }
}
