import { createHash } from 'node:crypto';
import { DATA_PREFIX_BYTES, MAX_CONTROL_FRAME_SIZE, OFFSET_VERSION, PROTOCOL_VERSION, concatFrame, dataPayloadOffset, encodeControl, encodeData } from '@cairn/protocol';
import { CLOSE_CODE, UncheckedMessages } from '@cairn/transfer';
import { chunkReceiveMemory, type ReceiveAdmission } from './receive-memory';
import { useTempStore } from './testing/temp-store';

const MiB = 1024 * 1024;
const GOOD_GRANT = 'a-grant.with-a-signature';
/** A sender as attachRpcServer describes one; these tests never have it dropped. */
const sender = (address: string) => ({
  address,
  bytesRead: () => 0,
  drop: () => {
    throw new Error(`${address} dropped`);
  },
});

describe('chunkReceiveMemory', () => {
  const temp = useTempStore('cairn-node-receive-');
  let admission: ReceiveAdmission & { refusals: string[] };
  beforeEach(() => {
    const refusals: string[] = [];
    admission = {
      mayPut: (head) => head.grant === GOOD_GRANT,
      unchecked: new UncheckedMessages(4 * MiB, 3 * MiB),
      onRefused: (reason, from) => refusals.push(`${from}: ${reason}`),
      refusals,
    };
  });

  /** A chunk.put frame as it arrives, and its head up to the end of its grant (what the memory is shown). */
  function chunkPut(size: number, grant = GOOD_GRANT) {
    const chunk = Buffer.alloc(size, 5);
    const hash = createHash('sha256').update(chunk).digest('hex');
    const frame = concatFrame(encodeData('chunk.put', 9, hash, chunk, grant));
    return { chunk, hash, frame, head: frame.subarray(0, dataPayloadOffset(frame)) };
  }

  it('asks to see a chunk.put up to the end of its grant, and anything else no further than its prefix', () => {
    const memory = chunkReceiveMemory(temp.store, admission);
    const { frame, head } = chunkPut(MiB);
    expect(memory.peek?.bytes).toBe(DATA_PREFIX_BYTES);
    expect(memory.peek?.more?.(frame.subarray(0, DATA_PREFIX_BYTES), frame.length)).toBe(head.length);
    const control = Buffer.concat([encodeControl('chunk.get', 1, { hash: 'a'.repeat(64), grant: 'g' }), Buffer.alloc(64)]);
    expect(memory.peek?.more?.(control.subarray(0, DATA_PREFIX_BYTES), MiB)).toBe(0);
  });

  it("receives a big chunk.put whose grant holds into the store's memory, its chunk where the store writes it from", async () => {
    const memory = chunkReceiveMemory(temp.store, admission);
    const { chunk, hash, frame, head } = chunkPut(MiB);
    const message = memory.take(frame.length, head, sender('10.0.0.1'));
    expect(message.length).toBe(frame.length);
    frame.copy(message);
    const payload = message.subarray(frame.length - chunk.length);
    expect(await temp.store.put(hash, payload)).toEqual({ stored: true });
    memory.give(message);
    expect(temp.store.returnLentBuffer(message)).toBe(false); // already back with the store
    expect(admission.unchecked.heldBytes).toBe(0);
  });

  it('takes a chunk.put whose grant fails from the unchecked room, and refuses one that finds it full', () => {
    const memory = chunkReceiveMemory(temp.store, admission);
    const lend = jest.spyOn(temp.store, 'lendReceiveBuffer');
    const bad = chunkPut(2 * MiB, 'a-forged.grant');
    const first = memory.take(bad.frame.length, bad.head, sender('10.0.0.1'));
    expect(admission.unchecked.heldBytes).toBe(bad.frame.length);
    const refused = expect.objectContaining({ closeCode: CLOSE_CODE.policyViolation });
    expect(() => memory.take(bad.frame.length, bad.head, sender('10.0.0.1'))).toThrow(refused); // over the address's 3 MiB
    expect(admission.refusals).toEqual([expect.stringMatching(/^10\.0\.0\.1: too many unchecked large messages/)]);
    expect(lend).not.toHaveBeenCalled();
    memory.give(first);
    expect(admission.unchecked.heldBytes).toBe(0);
    // A good grant is never held to the room, full or not.
    memory.take(bad.frame.length, bad.head, sender('10.0.0.2'));
    memory.take(MiB, bad.head, sender('10.0.0.3'));
    const good = chunkPut(MiB);
    expect(memory.take(good.frame.length, good.head, sender('10.0.0.1'))).toHaveLength(good.frame.length);
  });

  it('takes a large control message from the unchecked room, and refuses one larger than any there is at once', () => {
    const memory = chunkReceiveMemory(temp.store, admission);
    const control = Buffer.concat([encodeControl('chunk.has', 1, { hashes: [], grant: 'g' }), Buffer.alloc(64)]).subarray(0, DATA_PREFIX_BYTES);
    const taken = memory.take(MAX_CONTROL_FRAME_SIZE, control, sender('10.0.0.1'));
    expect(admission.unchecked.heldBytes).toBe(MAX_CONTROL_FRAME_SIZE);
    memory.give(taken);
    expect(() => memory.take(MAX_CONTROL_FRAME_SIZE + 1, control, sender('10.0.0.1'))).toThrow(expect.objectContaining({ closeCode: CLOSE_CODE.tooBig }));
    expect(admission.refusals).toHaveLength(1);
    expect(admission.unchecked.heldBytes).toBe(0);
  });

  it('takes a large message of another version from the unchecked room, so that it is answered E_VERSION once whole', () => {
    const memory = chunkReceiveMemory(temp.store, admission);
    const { frame, head } = chunkPut(2 * MiB);
    const older = Buffer.from(head);
    older[OFFSET_VERSION] = PROTOCOL_VERSION - 1;
    const taken = memory.take(frame.length, older.subarray(0, DATA_PREFIX_BYTES), sender('10.0.0.1'));
    expect(admission.unchecked.heldBytes).toBe(frame.length);
    memory.give(taken);
    expect(admission.refusals).toEqual([]);
  });

  it('receives a small message, shown no head, into recycled buffers', () => {
    const memory = chunkReceiveMemory(temp.store, admission);
    expect(memory.take(10, undefined, sender('10.0.0.1'))).toHaveLength(10);
    const recycled = memory.take(2 * MiB, undefined, sender('10.0.0.1'));
    memory.give(recycled);
    expect(memory.take(2 * MiB, undefined, sender('10.0.0.1')).buffer).toBe(recycled.buffer); // reused
    expect(admission.unchecked.heldBytes).toBe(0);
  });
});
