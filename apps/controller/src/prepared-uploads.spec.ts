import { PreparedUploads } from './prepared-uploads';


/** A connection that closes when told to. */
function connection() {
  let close!: () => void;
  const closed = new Promise<void>((resolve) => (close = resolve));
  return { closed, close };
}

/** Prepared uploads named `ids`, each placed on node-1 and node-2. */
function entries(...ids: string[]) {
  return ids.map((id) => ({ id, nodes: ['node-1', 'node-2'] }));
}

describe('PreparedUploads', () => {
  it('binds uploads to the connection that prepared them', () => {
    const prepared = new PreparedUploads(() => undefined);
    const [a, b] = [connection(), connection()];
    prepared.add(a, entries('u1', 'u2'));
    prepared.add(b, entries('u3'));
    expect([prepared.isOwnedBy('u1', a), prepared.isOwnedBy('u1', b), prepared.isOwnedBy('u3', b), prepared.isOwnedBy('nope', a)]).toEqual([true, false, true, false]);
    expect(prepared.forget('u1')).toEqual({ id: 'u1', nodes: ['node-1', 'node-2'] });
    expect(prepared.forget('u1')).toBeUndefined();
    expect(prepared.forget('nope')).toBeUndefined();
    expect(prepared.isOwnedBy('u1', a)).toBe(false);
    expect(prepared.size).toBe(2);
  });

  it('knows when each was prepared, how many a connection holds, and which are too old', () => {
    const prepared = new PreparedUploads(() => undefined);
    const [a, b] = [connection(), connection()];
    prepared.add(a, entries('u1', 'u2'), 1_000);
    prepared.add(a, entries('u3'), 5_000);
    prepared.add(b, entries('u4'), 1_000);
    expect([prepared.preparedAt('u1'), prepared.preparedAt('u3'), prepared.preparedAt('nope')]).toEqual([1_000, 5_000, undefined]);
    expect([prepared.openBy(a), prepared.openBy(b)]).toEqual([3, 1]);
    expect(prepared.takeExpired(a, 3_000, 4_000)).toEqual(entries('u1', 'u2'));
    expect([prepared.openBy(a), prepared.isOwnedBy('u1', a), prepared.isOwnedBy('u3', a), prepared.isOwnedBy('u4', b)]).toEqual([1, false, true, true]);
  });

  it('hands over what a connection left open when it closes, once', async () => {
    const abandoned: string[][] = [];
    const prepared = new PreparedUploads((uploads) => abandoned.push(uploads.map((u) => u.id)));
    const [a, b] = [connection(), connection()];
    prepared.add(a, entries('u1', 'u2'));
    prepared.add(a, entries('u3'));
    prepared.add(b, entries('u4'));
    prepared.forget('u2'); // committed
    a.close();
    await a.closed;
    await Promise.resolve();
    expect(abandoned).toEqual([['u1', 'u3']]);
    expect(prepared.isOwnedBy('u1', a)).toBe(false);
    expect(prepared.isOwnedBy('u4', b)).toBe(true);
  });

  it('abandons at once uploads prepared for a connection already closed', async () => {
    const abandoned: string[][] = [];
    const prepared = new PreparedUploads((uploads) => abandoned.push(uploads.map((u) => u.id)));
    const a = connection();
    a.close();
    prepared.add(a, entries('u1'));
    await new Promise((resolve) => setImmediate(resolve));
    expect(abandoned).toEqual([['u1']]);
    expect(prepared.size).toBe(0);
  });

  it('hands the uploads a closed connection left to onAbandoned with their nodes', async () => {
    const abandoned: Array<{ id: string; nodes: readonly string[] }> = [];
    const prepared = new PreparedUploads((uploads) => abandoned.push(...uploads));
    const a = connection();
    prepared.add(a, [{ id: 'u1', nodes: ['node-1', 'node-3'] }, { id: 'u2', nodes: ['node-2'] }]);
    a.close();
    await a.closed;
    await Promise.resolve();
    expect(abandoned).toEqual([
      { id: 'u1', nodes: ['node-1', 'node-3'] },
      { id: 'u2', nodes: ['node-2'] },
    ]);
  });

  it("with an expiry, hands each connection's uploads to onExpired when they expire, oldest first, and none of a closed one", async () => {
    jest.useFakeTimers(); // performance.now() too: the ages are exact, whatever the machine's load
    try {
      const expired: string[][] = [];
      const abandoned: string[][] = [];
      const prepared = new PreparedUploads(
        (uploads) => abandoned.push(uploads.map((u) => u.id)),
        { maxAgeMs: () => 40, onExpired: (uploads) => expired.push(uploads.map((u) => u.id)) },
      );
      const [a, b] = [connection(), connection()];
      prepared.add(a, entries('u1', 'u2'));
      prepared.add(b, entries('u3'));
      jest.advanceTimersByTime(20);
      prepared.add(a, entries('u4'));
      prepared.forget('u2'); // committed
      jest.advanceTimersByTime(21); // u1 and u3 are 41 ms old, u4 21
      expect(expired.sort()).toEqual([['u1'], ['u3']]);
      expect([prepared.isOwnedBy('u1', a), prepared.isOwnedBy('u4', a), prepared.openBy(b)]).toEqual([false, true, 0]);
      b.close(); // nothing left of b's: nothing to abandon
      await b.closed;
      jest.advanceTimersByTime(20); // u4 41 ms old
      expect(expired.sort()).toEqual([['u1'], ['u3'], ['u4']]);
      prepared.add(a, entries('u5'));
      a.close();
      await a.closed;
      await Promise.resolve();
      jest.advanceTimersByTime(100); // closed before it expired: abandoned, never expired
      expect(abandoned).toEqual([['u5']]);
      expect(expired).toHaveLength(3);
    } finally {
      jest.useRealTimers();
    }
  });
});
