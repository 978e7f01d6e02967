import { CairnError } from './errors';

/**
 * Human units for flags and config files: durations (`500ms`, `3s`, `2m`, `1h`; a bare number is
 * milliseconds) and byte sizes (`10GiB`, `512MB`, `4096`). Bad input is an E_USAGE error naming it.
 */
const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1e3, kb: 1e3, m: 1e6, mb: 1e6, g: 1e9, gb: 1e9, t: 1e12, tb: 1e12,
  kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40,
};

export function parseDuration(value: string | number, what = 'duration'): number {
  if (typeof value === 'number') return checkFinite(value, what, String(value));
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/i.exec(value);
  if (!match) throw new CairnError('E_USAGE', `${what}: "${value}" is not a duration (e.g. 500ms, 3s, 2m)`);
  return checkFinite(Number(match[1]) * DURATION_UNITS[(match[2] ?? 'ms').toLowerCase()], what, value);
}

/**
 * The longest delay a Node timer takes: 2^31-1 ms, about 24.8 days. A longer one fires at once, with a
 * TimeoutOverflowWarning on stderr.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A duration that becomes a timer's delay, so at most MAX_TIMER_MS. */
export function parseTimerDuration(value: string | number, what = 'duration'): number {
  const ms = parseDuration(value, what);
  if (ms > MAX_TIMER_MS) throw new CairnError('E_USAGE', `${what} must be at most 24.8d, got ${value}`);
  return ms;
}

export function parseByteSize(value: string | number, what = 'size'): number {
  if (typeof value === 'number') return checkFinite(value, what, String(value));
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value);
  const unit = match ? SIZE_UNITS[match[2].toLowerCase()] : undefined;
  if (!match || unit === undefined) throw new CairnError('E_USAGE', `${what}: "${value}" is not a size (e.g. 10GiB, 512MB)`);
  return checkFinite(Math.floor(Number(match[1]) * unit), what, value);
}

function checkFinite(n: number, what: string, shown: string): number {
  if (!Number.isFinite(n) || n < 0 || n > Number.MAX_SAFE_INTEGER) throw new CairnError('E_USAGE', `${what}: "${shown}" is out of range`);
  return Math.round(n);
}
