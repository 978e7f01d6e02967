import { CLOSE_CODE, WebSocketFrameError } from './websocket-frame-reader';
import { type MessageSender, UncheckedMessages } from './unchecked-messages';

/** A sender that records when it is dropped. */
function sender(address: string): MessageSender & { drops: string[] } {
  const drops: string[] = [];
  return { address, drops, drop: (reason) => drops.push(reason) };
}

const refused = expect.objectContaining({ closeCode: CLOSE_CODE.policyViolation });

describe('UncheckedMessages', () => {
  it('hands out fresh buffers within its room and refuses with 1008 beyond it, counting refusals', () => {
    const room = new UncheckedMessages(1000, 1000);
    const a = room.take(600, sender('a'), 0);
    expect(a).toHaveLength(600);
    expect(room.heldBytes).toBe(600);
    expect(() => room.take(401, sender('b'), 0)).toThrow(refused);
    expect(() => room.take(401, sender('b'), 0)).toThrow(WebSocketFrameError);
    expect(room.refused).toBe(2);
    expect(room.take(400, sender('b'), 0)).toHaveLength(400); // exactly full
    expect(room.heldBytes).toBe(1000);
    expect(() => room.take(1001, sender('c'), 10_000)).toThrow(refused); // never fits, whatever is dropped
  });

  it('keeps one address to its share, so that others still find room', () => {
    const room = new UncheckedMessages(1000, 300);
    room.take(200, sender('greedy'), 0);
    expect(() => room.take(101, sender('greedy'), 0)).toThrow(refused);
    expect(room.take(300, sender('other'), 0)).toHaveLength(300);
  });

  it('frees the room when the buffer, or any view into it, comes back, once; anything else is not its own', () => {
    const room = new UncheckedMessages(1000, 1000);
    const a = room.take(1000, sender('a'), 0);
    expect(room.give(a.subarray(10, 20))).toBe(true);
    expect(room.heldBytes).toBe(0);
    expect(room.give(a)).toBe(false); // given back already
    expect(room.give(Buffer.alloc(10))).toBe(false);
    expect(room.take(1000, sender('a'), 0)).toHaveLength(1000); // the address's share is free again too
  });

  it('drops the oldest message stalled past its time to make room, and never one that has arrived whole', () => {
    const room = new UncheckedMessages(1000, 1000, 5_000);
    const [old, arrived, young, late] = ['old', 'arrived', 'young', 'late'].map(sender);
    room.take(300, arrived, 0);
    const fromArrived = room.take(100, arrived, 0);
    room.arrived(fromArrived.subarray(1)); // waiting for its handler: never dropped
    room.take(400, old, 1_000);
    room.take(200, young, 5_500);
    // At 6 000 only `old` (and `arrived`'s first, still arriving) have stalled past 5 s; `arrived`'s
    // first is older, so it goes first, then `old` when that is not enough.
    expect(room.take(300, late, 6_001)).toHaveLength(300);
    expect(arrived.drops).toHaveLength(1);
    expect(old.drops).toEqual([]);
    expect(room.heldBytes).toBe(100 + 400 + 200 + 300);
    expect(room.take(400, late, 6_002)).toHaveLength(400);
    expect(old.drops).toEqual([expect.stringMatching(/stalled over 5000 ms/)]);
    expect(young.drops).toEqual([]);
    expect(room.dropped).toBe(2);
    expect(room.heldBytes).toBe(100 + 200 + 300 + 400);
    // Nothing else has stalled: refused, and nobody dropped.
    expect(() => room.take(100, sender('more'), 6_003)).toThrow(refused);
    expect(room.dropped).toBe(2);
  });

  it("over an address's share, drops only that address's own stalled messages", () => {
    const room = new UncheckedMessages(1000, 500, 5_000);
    const [a, b] = ['a', 'b'].map(sender);
    room.take(400, b, 0); // the oldest, stalled, but not a's
    const first = room.take(400, a, 1_000);
    expect(room.take(400, a, 7_000)).toHaveLength(400); // a's own first message dropped for it
    expect(a.drops).toHaveLength(1);
    expect(b.drops).toEqual([]);
    expect(room.give(first)).toBe(false); // its room was already taken back when it was dropped
    expect(room.heldBytes).toBe(800);
  });

  it('refuses sizes that are not whole numbers', () => {
    expect(() => new UncheckedMessages(-1, 10)).toThrow(RangeError);
    expect(() => new UncheckedMessages(10, 1.5)).toThrow(RangeError);
    expect(() => new UncheckedMessages(10, 10, Number.NaN)).toThrow(RangeError);
  });
});
