import { CLOSE_CODE, WebSocketFrameError } from './websocket-frame-reader';
import { UncheckedMessages } from './unchecked-messages';

function refusal(f: () => unknown): WebSocketFrameError {
  try {
    f();
  } catch (err) {
    if (err instanceof WebSocketFrameError) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}

describe('UncheckedMessages', () => {
  it('hands out fresh buffers within its room and refuses with 1008 beyond it, counting refusals', () => {
    const room = new UncheckedMessages(1000, 1000);
    const a = room.take(600, 'a');
    expect(a).toHaveLength(600);
    expect(room.heldBytes).toBe(600);
    expect(refusal(() => room.take(401, 'b')).closeCode).toBe(CLOSE_CODE.policyViolation);
    expect(room.refused).toBe(1);
    expect(room.take(400, 'b')).toHaveLength(400); // exactly full
    expect(room.heldBytes).toBe(1000);
  });

  it('keeps one address to its share, so that others still find room', () => {
    const room = new UncheckedMessages(1000, 300);
    room.take(200, 'greedy');
    expect(() => room.take(101, 'greedy')).toThrow(WebSocketFrameError);
    expect(room.take(300, 'other')).toHaveLength(300);
  });

  it('frees the room when the buffer, or any view into it, comes back, once; anything else is not its own', () => {
    const room = new UncheckedMessages(1000, 1000);
    const a = room.take(1000, 'a');
    expect(room.give(a.subarray(10, 20))).toBe(true);
    expect(room.heldBytes).toBe(0);
    expect(room.give(a)).toBe(false); // given back already
    expect(room.give(Buffer.alloc(10))).toBe(false);
    expect(room.take(1000, 'a')).toHaveLength(1000); // the address's share is free again too
  });

  it('refuses sizes that are not whole numbers of bytes', () => {
    expect(() => new UncheckedMessages(-1, 10)).toThrow(RangeError);
    expect(() => new UncheckedMessages(10, 1.5)).toThrow(RangeError);
  });
});
