import type { ErrorCode } from '@cairn/protocol';

/** Asserts that `promise` rejects with a CairnError of `code` (codes are the contract, messages are not). */
export async function expectRejectsWithCode(promise: Promise<unknown>, code: ErrorCode): Promise<void> {
  await expect(promise).rejects.toMatchObject({ name: 'CairnError', code });
}

/** Drains an async iterable into an array (tests only: the store itself never does this). */
export async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}
