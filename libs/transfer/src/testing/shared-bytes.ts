/** `bytes` copied into a SharedArrayBuffer of their own, at `offset` (a view into the middle, as a pooled chunk may be). */
export function sharedBytes(bytes: Uint8Array, offset = 0): Buffer {
  const view = Buffer.from(new SharedArrayBuffer(offset + bytes.length), offset, bytes.length);
  view.set(bytes);
  return view;
}
