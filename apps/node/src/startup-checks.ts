/**
 * A --capacity below the bytes the store already holds is no reason to refuse to start (the chunks are
 * still served, and can be drained away), but the node then takes no new chunk: say so once, at start.
 * The message, or undefined when the capacity leaves room.
 */
export function overCapacityWarning(stats: { used: number; capacity: number }, capacityFlag: number | undefined): string | undefined {
  if (capacityFlag === undefined || stats.used <= stats.capacity) return undefined;
  return `--capacity ${stats.capacity} is below the ${stats.used} bytes already stored: this node takes no new chunks until enough are removed (drain it to move some away, or raise --capacity)`;
}
