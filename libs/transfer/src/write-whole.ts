import type { FileHandle } from 'node:fs/promises';

/** Writes all of `piece` at the handle's position: a write may take less than it is given. */
export async function writeWhole(handle: FileHandle, piece: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < piece.length) {
    const { bytesWritten } = await handle.write(piece, offset, piece.length - offset);
    offset += bytesWritten;
  }
}
