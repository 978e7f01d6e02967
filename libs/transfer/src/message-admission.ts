/** One message's claim on a MessageAdmission: admitted now, or waiting for room. */
export interface AdmissionTicket {
  /** Whether the message may be received now; when false, `onAdmitted` is told once it may. */
  readonly admitted: boolean;
  /** Gives the bytes back (admitted) or leaves the queue (waiting). Idempotent. */
  release(): void;
}

interface Claim {
  bytes: number;
  state: 'waiting' | 'admitted' | 'released';
  onAdmitted: () => void;
}

/**
 * A process-wide cap on the bytes of messages being received and not finished yet, over all of a
 * server's connections. A message's buffer is taken when its header arrives and is filled as its
 * bytes do, so without a cap every connection could hold one unfinished message of the largest size
 * allowed (16 MiB on a node, times up to 1024 connections). A connection asks for room for each
 * message as it starts (AcceptedWebSocket); when there is none, it stops reading until earlier
 * messages are finished (or their connections gone), in the order they asked.
 *
 * Admitted messages are never held back by this cap, so they always finish as fast as their senders
 * send: waiting can only end. A sender that stops mid-message keeps its room until the server's idle
 * timeout drops its connection. One message is admitted even when it alone is over the cap, so that
 * the cap never refuses a message the protocol allows.
 */
export class MessageAdmission {
  private admitted = 0;
  private readonly waiting: Claim[] = [];

  constructor(readonly maxBytes: number) {
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) throw new RangeError(`a message admission cap must be a whole number of bytes, got ${maxBytes}`);
  }

  /** Bytes of admitted messages not finished yet. */
  get admittedBytes(): number {
    return this.admitted;
  }

  /** Messages waiting for room. */
  get waitingCount(): number {
    return this.waiting.length;
  }

  /** Asks for room for a message of `bytes`; `onAdmitted` is told if it has to wait and, later, may go. */
  admit(bytes: number, onAdmitted: () => void): AdmissionTicket {
    const claim: Claim = { bytes, state: 'waiting', onAdmitted };
    // First come, first served: a message that fits does not overtake one already waiting.
    if (this.waiting.length === 0 && this.fits(bytes)) {
      claim.state = 'admitted';
      this.admitted += bytes;
    } else {
      this.waiting.push(claim);
    }
    return {
      admitted: claim.state === 'admitted',
      release: () => this.release(claim),
    };
  }

  private fits(bytes: number): boolean {
    return this.admitted === 0 || this.admitted + bytes <= this.maxBytes;
  }

  private release(claim: Claim): void {
    if (claim.state === 'admitted') this.admitted -= claim.bytes;
    else if (claim.state === 'waiting') this.waiting.splice(this.waiting.indexOf(claim), 1);
    else return;
    claim.state = 'released';
    this.admitWaiting();
  }

  private admitWaiting(): void {
    while (this.waiting.length > 0 && this.fits(this.waiting[0].bytes)) {
      const next = this.waiting.shift()!;
      next.state = 'admitted';
      this.admitted += next.bytes;
      next.onAdmitted();
    }
  }
}
