import { createHash } from 'node:crypto';

export interface TestChunk {
  hash: string;
  data: Buffer;
}

export function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Deterministic bytes of any size: different seeds give different chunks. */
export function makeChunk(size: number, seed = 0): TestChunk {
  const data = Buffer.alloc(size);
  let state = (seed * 2654435761 + 1) >>> 0;
  for (let i = 0; i < size; i++) {
    state = (state * 1103515245 + 12345) >>> 0;
    data[i] = state >>> 24;
  }
  return { hash: sha256Hex(data), data };
}

/** Strings that are not chunk hashes, each a different way to be wrong. */
export const INVALID_HASHES: readonly string[] = [
  '',
  'abc',
  'A'.repeat(64),
  'g'.repeat(64),
  'a'.repeat(63),
  'a'.repeat(65),
  `../${'a'.repeat(61)}`,
  `${'a'.repeat(62)}/x`,
  ` ${'a'.repeat(63)}`,
];
