import { CLOSE_CODE, WebSocketFrameError } from './websocket-frame-reader';
import { type MessageSender, UncheckedMessages } from './unchecked-messages';

/** A sender that records when it is dropped, and whose connection has read `read.bytes` so far. */
function sender(address: string): MessageSender & { drops: string[]; read: { bytes: number } } {
  const drops: string[] = [];
  const read = { bytes: 0 };
  return { address, drops, read, bytesRead: () => read.bytes, drop: (reason) => drops.push(reason) };
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

  it('counts an IPv6 /64 as one address, and an IPv4 address the same however its socket saw it', () => {
    const room = new UncheckedMessages(1000, 300);
    room.take(200, sender('2001:db8:1:2::a'), 0);
    expect(() => room.take(101, sender('2001:db8:1:2:ffff::b'), 0)).toThrow(refused);
    expect(room.take(300, sender('2001:db8:1:3::a'), 0)).toHaveLength(300); // the next /64 is someone else
    room.take(300, sender('192.0.2.7'), 0);
    expect(() => room.take(1, sender('::ffff:192.0.2.7'), 0)).toThrow(refused);
    expect(room.heldBytes).toBe(800);
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

  it('drops the oldest stalled messages to make room, never one arriving fast enough or arrived whole', () => {
    const room = new UncheckedMessages(1000, 1000, 5_000, 100); // stalled: past 5 s, under 100 bytes/s
    const [oldest, arrived, old, fast, young, late] = ['oldest', 'arrived', 'old', 'fast', 'young', 'late'].map(sender);
    room.take(200, oldest, 0);
    room.arrived(room.take(100, arrived, 0).subarray(1)); // waiting for its handler: never dropped
    room.take(200, old, 1_000);
    room.take(300, fast, 1_000);
    fast.read.bytes = 600; // 600 bytes in 6 s: 100 bytes/s, not under
    room.take(200, young, 5_500);
    // At 7 000: `oldest` and `old` have stalled. 300 bytes are needed: both go, oldest first.
    expect(room.take(300, late, 7_000)).toHaveLength(300);
    expect(oldest.drops).toEqual([expect.stringMatching(/stalled \(under 100 bytes\/s for over 5000 ms\)/)]);
    expect(old.drops).toHaveLength(1);
    expect([arrived, fast, young].map((s) => s.drops)).toEqual([[], [], []]);
    expect(room.dropped).toBe(2);
    expect(room.heldBytes).toBe(100 + 300 + 200 + 300);
  });

  it('drops nobody when all the stalled messages would not make room enough, and refuses the newcomer', () => {
    const room = new UncheckedMessages(1000, 1000, 5_000, 100);
    const [stalled, busy] = ['stalled', 'busy'].map(sender);
    room.take(100, stalled, 0);
    room.take(800, busy, 6_000);
    expect(() => room.take(300, sender('late'), 6_001)).toThrow(refused); // 100 of the 200 needed
    expect(stalled.drops).toEqual([]);
    expect(room.dropped).toBe(0);
    expect(room.heldBytes).toBe(900);
  });

  it("over an address's share, drops that address's own stalled messages first, then anyone's for the room", () => {
    const room = new UncheckedMessages(1000, 500, 5_000, 100);
    const [a, b] = ['a', 'b'].map(sender);
    room.take(400, b, 0); // the oldest, stalled, but not a's
    const first = room.take(400, a, 1_000);
    expect(room.take(400, a, 7_000)).toHaveLength(400); // a's own first message dropped for its share; room enough then
    expect(a.drops).toHaveLength(1);
    expect(b.drops).toEqual([]);
    expect(room.give(first)).toBe(false); // its room was already taken back when it was dropped
    expect(room.heldBytes).toBe(800);
    // c's share is free, but the room is not: b's stalled message goes for it.
    expect(room.take(500, sender('c'), 7_001)).toHaveLength(500);
    expect(b.drops).toHaveLength(1);
  });

  it("keeps the newcomer's connection out of a drop that fails", () => {
    const room = new UncheckedMessages(100, 100, 5_000, 100);
    const failing: MessageSender = { address: 'x', bytesRead: () => 0, drop: () => { throw new Error('already gone'); } };
    room.take(100, failing, 0);
    expect(room.take(100, sender('y'), 6_000)).toHaveLength(100);
    expect(room.dropped).toBe(1);
  });

  it('refuses sizes that are not whole numbers', () => {
    expect(() => new UncheckedMessages(-1, 10)).toThrow(RangeError);
    expect(() => new UncheckedMessages(10, 1.5)).toThrow(RangeError);
    expect(() => new UncheckedMessages(10, 10, Number.NaN)).toThrow(RangeError);
    expect(() => new UncheckedMessages(10, 10, 10, -1)).toThrow(RangeError);
  });
});
