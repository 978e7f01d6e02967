import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { batchSignedMessage, batchTree, decodePath, encodePath, leafHash, MAX_BATCH_DEPTH, rootOf } from './grant-batch';

fc.configureGlobal({ interruptAfterTimeLimit: 4_000, markInterruptAsFailure: true });

const payloadsArb = fc.array(fc.uint8Array({ minLength: 0, maxLength: 40 }), { minLength: 2, maxLength: 64 }).map((list) => list.map((bytes) => Buffer.from(bytes)));
/** Distinct payloads, as a batch's are (each names its own upload). */
const distinctPayloadsArb = fc
  .uniqueArray(fc.uint8Array({ minLength: 0, maxLength: 40 }), { minLength: 2, maxLength: 64, selector: (bytes) => Buffer.from(bytes).toString('hex') })
  .map((list) => list.map((bytes) => Buffer.from(bytes)));

describe('batchTree and rootOf', () => {
  it('gives every payload a path of the tree depth that leads to the root', () => {
    fc.assert(
      fc.property(payloadsArb, (payloads) => {
        const { depth, root, paths } = batchTree(payloads);
        expect(depth).toBe(Math.ceil(Math.log2(payloads.length)));
        paths.forEach((path, i) => {
          expect(path).toMatchObject({ depth, index: i });
          expect(path.siblings).toHaveLength(depth);
          expect(rootOf(payloads[i], path).equals(root)).toBe(true);
        });
      }),
      { numRuns: 200 },
    );
  });

  it('leads nowhere with another payload, another index or another sibling', () => {
    fc.assert(
      fc.property(distinctPayloadsArb, fc.nat(), fc.nat(), (payloads, a, b) => {
        const { root, paths } = batchTree(payloads);
        const i = a % payloads.length;
        const j = b % payloads.length;
        fc.pre(i !== j);
        expect(rootOf(payloads[j], paths[i]).equals(root)).toBe(false);
        const otherIndex = { ...paths[i], index: paths[i].index ^ 1 };
        expect(rootOf(payloads[i], otherIndex).equals(root)).toBe(false);
        const otherSibling = { ...paths[i], siblings: paths[i].siblings.map((s, k) => (k === 0 ? randomBytes(32) : s)) };
        expect(rootOf(payloads[i], otherSibling).equals(root)).toBe(false);
      }),
      { numRuns: 200 },
    );
  });

  it('keeps leaves and inner nodes apart: the two halves under the root are no payload of the tree', () => {
    const payloads = [Buffer.from('a'), Buffer.from('b')];
    const { root } = batchTree(payloads);
    // An inner node is hashed from 0x01 || left || right; as a "payload" the same bytes hash with 0x00.
    const asPayload = Buffer.concat([leafHash(payloads[0]), leafHash(payloads[1])]);
    expect(leafHash(asPayload).equals(root)).toBe(false);
  });

  it('holds 2 to 64 grants', () => {
    expect(() => batchTree([Buffer.from('x')])).toThrow(RangeError);
    expect(() => batchTree(Array.from({ length: 2 ** MAX_BATCH_DEPTH + 1 }, () => Buffer.from('x')))).toThrow(RangeError);
    expect(batchTree(Array.from({ length: 2 ** MAX_BATCH_DEPTH }, (_, i) => Buffer.from(String(i)))).depth).toBe(MAX_BATCH_DEPTH);
  });

  it('signs a message that names the depth, after a text no JSON payload starts with', () => {
    const root = randomBytes(32);
    const message = batchSignedMessage(3, root);
    expect(message.toString('utf8', 0, 21)).toBe('cairn grant batch v1\n');
    expect(message[21]).toBe(3);
    expect(message.subarray(22).equals(root)).toBe(true);
    expect(batchSignedMessage(4, root).equals(message)).toBe(false);
  });
});

describe('encodePath and decodePath', () => {
  it('round-trip every path of a tree', () => {
    fc.assert(
      fc.property(payloadsArb, (payloads) => {
        for (const path of batchTree(payloads).paths) {
          const decoded = decodePath(encodePath(path));
          expect(decoded).toBeDefined();
          expect(decoded!.depth).toBe(path.depth);
          expect(decoded!.index).toBe(path.index);
          expect(decoded!.siblings.map((s) => s.toString('hex'))).toEqual(path.siblings.map((s) => s.toString('hex')));
        }
      }),
      { numRuns: 100 },
    );
  });

  it('refuses a depth of 0 or over 6, an index past the tree, and a wrong length', () => {
    const path = (depth: number, index: number, siblings = depth) => Buffer.concat([Buffer.from([depth, index]), randomBytes(32 * siblings)]);
    expect(decodePath(path(1, 0))).toBeDefined();
    expect(decodePath(path(6, 63))).toBeDefined();
    expect(decodePath(path(0, 0))).toBeUndefined();
    expect(decodePath(path(7, 0))).toBeUndefined();
    expect(decodePath(path(2, 4))).toBeUndefined();
    expect(decodePath(path(2, 1, 1))).toBeUndefined();
    expect(decodePath(path(2, 1, 3))).toBeUndefined();
    expect(decodePath(Buffer.from([1]))).toBeUndefined();
    expect(decodePath(Buffer.alloc(0))).toBeUndefined();
  });

  it('never throws, whatever bytes it is given', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const path = decodePath(Buffer.from(bytes));
        if (path) expect(path.siblings).toHaveLength(path.depth);
      }),
      { numRuns: 500 },
    );
  });
});
