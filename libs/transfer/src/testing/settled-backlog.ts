/**
 * Waits until `socket.bufferedAmount` has stayed the same over five looks 20 ms apart (the kernel has
 * taken all it will of a send to a peer that reads nothing), and returns it.
 */
export async function settledBacklog(socket: { readonly bufferedAmount: number }): Promise<number> {
  let settled = -1;
  for (let stable = 0; stable < 5; ) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    stable = socket.bufferedAmount === settled ? stable + 1 : 0;
    settled = socket.bufferedAmount;
  }
  return settled;
}
