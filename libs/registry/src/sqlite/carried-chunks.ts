import type { StoredChunk } from '../catalog';
import type { UploadChunkSummary } from './statements';

/** A committing file's chunk list, as the commit-time checks read it. */
export interface CommitChunkList {
  /** Count, lowest and highest index, and bytes, as `uploadChunkSummary` gives them. */
  summary(): UploadChunkSummary;
  /** The first chunk, by index, on fewer than `replicas` distinct nodes (as `firstThinUploadChunk`). */
  firstThin(replicas: number): { index: number; nodes: number } | undefined;
  /** Hash and size of each chunk in index order (for the manifest hash). */
  inOrder(): Iterable<{ hash: string; size: number }>;
}

/**
 * The chunk list of a commit that carries the whole file (a small file's one chunk, put with a
 * prepared upload), read from the commit itself instead of from the upload's staging rows, which
 * such a commit would write only to delete them in the same transaction.
 */
export class CarriedChunks implements CommitChunkList {
  /**
   * The commit's records, or undefined when an index repeats: recording a second record for an index
   * keeps the first one's copies as replica rows (for GC), which only the staging path does.
   */
  static of(records: readonly StoredChunk[]): CarriedChunks | undefined {
    const chunks = [...records].sort((a, b) => a.index - b.index);
    if (chunks.some((chunk, i) => i > 0 && chunk.index === chunks[i - 1].index)) return undefined;
    return new CarriedChunks(chunks.map((chunk) => ({ ...chunk, nodes: [...new Set(chunk.nodes)] })));
  }

  /** In index order, each with its distinct nodes. */
  private constructor(readonly chunks: readonly StoredChunk[]) {}

  summary(): UploadChunkSummary {
    const { chunks } = this;
    return {
      count: chunks.length,
      lowest: chunks.length > 0 ? chunks[0].index : null,
      highest: chunks.length > 0 ? chunks[chunks.length - 1].index : null,
      bytes: chunks.reduce((sum, chunk) => sum + chunk.size, 0),
    };
  }

  firstThin(replicas: number): { index: number; nodes: number } | undefined {
    const thin = this.chunks.find((chunk) => chunk.nodes.length < replicas);
    return thin && { index: thin.index, nodes: thin.nodes.length };
  }

  inOrder(): readonly StoredChunk[] {
    return this.chunks;
  }
}
