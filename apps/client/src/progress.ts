import { SingleBar } from 'cli-progress';
import { formatBytes } from './format';

export interface Progress {
  /** Called with the bytes done so far, and the chunks skipped because the nodes already had them. */
  update(bytes: number, skippedChunks?: number): void;
  /** Adds to the total (recursive transfers learn it file by file). */
  addTotal(bytes: number): void;
  stop(): void;
}

const SILENT: Progress = { update: () => undefined, addTotal: () => undefined, stop: () => undefined };

/**
 * A progress bar on stderr (bytes, rate, ETA) for long transfers, only when stderr is a terminal and
 * neither --quiet nor --json was asked for; otherwise it does nothing, so pipes and scripts see no
 * control characters.
 */
export function createProgress(label: string, total: number | undefined, options: { quiet: boolean; json: boolean }): Progress {
  if (options.quiet || options.json || !process.stderr.isTTY) return SILENT;
  const started = Date.now();
  let current = 0;
  let skipped = 0;
  let known = total ?? 0;
  const bar = new SingleBar(
    {
      stream: process.stderr,
      format: total === undefined ? `${label} {done} | {rate}/s{skipped}` : `${label} [{bar}] {percentage}% | {done} / {size} | {rate}/s | ETA {eta_formatted}{skipped}`,
      hideCursor: true,
      clearOnComplete: true,
      etaBuffer: 50,
      fps: 10,
    },
  );
  const payload = () => ({
    done: formatBytes(current),
    size: formatBytes(known),
    rate: formatBytes(Math.round(current / Math.max(0.001, (Date.now() - started) / 1000))),
    skipped: skipped > 0 ? ` | skipped ${skipped} chunks` : '',
  });
  bar.start(Math.max(1, known), 0, payload());
  return {
    update(bytes, skippedChunks = skipped) {
      current = bytes;
      skipped = skippedChunks;
      bar.update(Math.min(bytes, Math.max(1, known)), payload());
    },
    addTotal(bytes) {
      known += bytes;
      bar.setTotal(Math.max(1, known));
    },
    stop() {
      bar.stop();
    },
  };
}
