import { AlignedSlots, DIRECT_IO_ALIGNMENT, alignUp, copyIntoSlot } from './aligned-slots';

describe('AlignedSlots', () => {
  it('lends slots that start on a block boundary, do not overlap and hold the largest write rounded up', async () => {
    const slots = new AlignedSlots(3, 1_000_001);
    expect(slots.slotBytes).toBeGreaterThanOrEqual(alignUp(1_000_001));
    const lent = [await slots.acquire(), await slots.acquire(), await slots.acquire()];
    const offsets = lent.map((s) => s.offset).sort((a, b) => a - b);
    for (const [i, offset] of offsets.entries()) {
      expect(offset % DIRECT_IO_ALIGNMENT).toBe(0);
      if (i > 0) expect(offset - offsets[i - 1]).toBeGreaterThanOrEqual(slots.slotBytes);
    }
    lent[0].view.fill(1);
    expect(lent[1].view.every((b) => b === 0)).toBe(true);
    expect(lent[0].view.buffer).toBe(slots.memory);
  });

  it('makes a borrower wait while every slot is lent, then hands over a released one, first come first served', async () => {
    const slots = new AlignedSlots(1, 4096);
    const only = await slots.acquire();
    const order: string[] = [];
    const first = slots.acquire().then((s) => (order.push('first'), s));
    const second = slots.acquire().then((s) => (order.push('second'), s));
    await new Promise((resolve) => setImmediate(resolve));
    expect(order).toEqual([]);
    slots.release(only);
    slots.release(await first);
    await second;
    expect(order).toEqual(['first', 'second']);
  });

  it('gives up waiting when the signal fires, and the slot then goes to the next borrower', async () => {
    const slots = new AlignedSlots(1, 4096);
    const only = await slots.acquire();
    const controller = new AbortController();
    const abandoned = slots.acquire(controller.signal);
    const next = slots.acquire();
    controller.abort();
    await expect(abandoned).rejects.toMatchObject({ code: 'E_ABORTED' });
    slots.release(only);
    await expect(next).resolves.toBe(only);
    await expect(slots.acquire(AbortSignal.abort())).rejects.toMatchObject({ code: 'E_ABORTED' });
  });

  it('keeps reserved slots after the lent ones, aligned, never lent', async () => {
    const slots = new AlignedSlots(2, 5000, 2);
    const lent = [await slots.acquire(), await slots.acquire()];
    const reserved = [slots.reservedOffset(0), slots.reservedOffset(1)];
    expect(slots.memory.byteLength).toBe(4 * slots.slotBytes);
    for (const offset of reserved) {
      expect(offset % DIRECT_IO_ALIGNMENT).toBe(0);
      for (const slot of lent) expect(Math.abs(offset - slot.offset)).toBeGreaterThanOrEqual(slots.slotBytes);
    }
    expect(reserved[1] - reserved[0]).toBe(slots.slotBytes);
    expect(() => slots.reservedOffset(2)).toThrow(RangeError);
    expect(() => new AlignedSlots(1, 4096).reservedOffset(0)).toThrow(RangeError);
  });

  it('copies bytes to the start of a slot, exactly, leaving the rest of it alone', async () => {
    const slots = new AlignedSlots(2, 8192);
    const slot = await slots.acquire();
    slot.view.fill(0xee);
    const source = Buffer.from(Uint8Array.from({ length: 5000 }, (_, i) => (i * 7) & 0xff));
    copyIntoSlot(slot, source);
    expect(Buffer.from(slot.view.subarray(0, 5000)).equals(source)).toBe(true);
    expect(slot.view.subarray(5000).every((b) => b === 0xee)).toBe(true);
    copyIntoSlot(slot, new Uint8Array(0)); // nothing to copy
    copyIntoSlot(slot, new Uint8Array([1, 2, 3]).subarray(1)); // a view at an offset
    expect([...slot.view.subarray(0, 3)]).toEqual([2, 3, source[2]]);
  });

  it('gives each slot, reserved ones too, a headroom of its own just before its aligned start', async () => {
    const slots = new AlignedSlots(2, 5000, 1, 100);
    expect(slots.headroom).toBe(64 * 1024); // whole wasm pages
    const lent = [await slots.acquire(), await slots.acquire()];
    const regions = [...lent.map((s) => [s.offset - slots.headroom, s.offset + slots.slotBytes]), [slots.reservedOffset(0) - slots.headroom, slots.reservedOffset(0) + slots.slotBytes]];
    for (const slot of lent) expect(slot.offset % DIRECT_IO_ALIGNMENT).toBe(0);
    regions.sort((a, b) => a[0] - b[0]);
    expect(regions[0][0]).toBe(0);
    for (let i = 1; i < regions.length; i++) expect(regions[i][0]).toBe(regions[i - 1][1]); // no overlap, no gap
    expect(regions[regions.length - 1][1]).toBe(slots.memory.byteLength);
  });

  it('lends a slot at once or not at all with tryAcquire, and counts what is free', async () => {
    const slots = new AlignedSlots(2, 4096);
    expect(slots.freeCount).toBe(2);
    const a = slots.tryAcquire();
    const b = slots.tryAcquire();
    expect(a && b && a.offset !== b.offset).toBe(true);
    expect(slots.tryAcquire()).toBeUndefined();
    expect(slots.freeCount).toBe(0);
    slots.release(a!);
    expect(slots.freeCount).toBe(1);
  });

  it('rounds lengths up to the block size', () => {
    expect([0, 1, 4095, 4096, 4097].map(alignUp)).toEqual([0, 4096, 4096, 4096, 8192]);
  });
});
