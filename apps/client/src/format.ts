import type { FileInfo, NodeInfo } from '@cairn/protocol';
import type { CairnClient, ClusterStatus, FileStat, StatChunk } from '@cairn/transfer';

/** A token as `token list` gives it: id, scope, prefix (null: every name), createdAt, revokedAt. */
export type TokenRecord = Awaited<ReturnType<CairnClient['listTokens']>>[number];

/** Control characters (C0, DEL and C1), and the backslash that starts an escape. */
// eslint-disable-next-line no-control-regex -- matching them is the point
const ESCAPED = /[\\\u0000-\u001f\u007f-\u009f]/g;
const NAMED: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * `text` with its control characters written out (`\n`, `\x1b`): for a name or a peer's message in
 * the CLI's human output. A file name may hold any of them but NUL, and one with a newline or an
 * escape sequence, printed as it is, could forge lines of `ls` or drive the terminal of whoever lists
 * the files. A backslash is doubled, so that a name holding the two characters `\n` is not shown as
 * one holding a newline. `--json` needs none of this: JSON escapes them itself.
 */
export function printable(text: string): string {
  return text.replace(ESCAPED, (c) => NAMED[c] ?? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** `n` and a noun for what it counts, in the plural unless it is one: `1 chunk`, `0 files`. */
export function count(n: number, noun: string): string {
  return `${n} ${n === 1 ? noun : `${noun}s`}`;
}

/** Human-readable output of the CLI; `--json` output is the SDK's objects as they are. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${n} B` : `${value.toFixed(1)} ${units[unit]}`;
}

export function formatFileLine(file: FileInfo): string {
  return `${formatBytes(file.size).padStart(10)}  ${new Date(file.updatedAt).toISOString()}  ${printable(file.name)}`;
}

export function formatStat(stat: FileStat): string {
  const lines = [
    `name:     ${printable(stat.name)}`,
    `size:     ${stat.size} (${formatBytes(stat.size)})`,
    `sha256:   ${stat.sha256}`,
    `replicas: ${stat.replicas}`,
    `chunks:   ${stat.chunkCount}`,
    `updated:  ${new Date(stat.updatedAt).toISOString()}`,
  ];
  for (const c of stat.chunks) lines.push(`  #${c.index} ${c.hash.slice(0, 16)}… ${formatBytes(c.size)} on ${whereChunkIs(c)}`);
  return lines.join('\n');
}

/**
 * The nodes holding a chunk's copies, each not alive marked with its state (`n-2 (dead)`), and said
 * when none is alive; the controller lists none where every copy is gone.
 */
function whereChunkIs({ nodes, nodeStates }: StatChunk): string {
  if (nodes.length === 0) return 'no live node (lost)';
  const listed = nodes.map((id) => (nodeStates[id] === undefined || nodeStates[id] === 'alive' ? id : `${id} (${nodeStates[id]})`)).join(', ');
  return nodes.some((id) => nodeStates[id] === 'alive') ? listed : `${listed}: no live copy`;
}

export function formatNodes(nodes: NodeInfo[]): string {
  if (nodes.length === 0) return 'no nodes have registered';
  const rows = nodes.map((n) => [n.id, n.address, n.zone ?? '-', n.state, `${formatBytes(n.used)} / ${formatBytes(n.capacity)}`, String(n.chunks)]);
  return table(['ID', 'ADDRESS', 'ZONE', 'STATE', 'USED / CAPACITY', 'CHUNKS'], rows);
}

/**
 * `token list`: one row a token, with a header as `nodes` has; dates as `ls` gives them (ISO 8601, UTC).
 * A token of every name shows `*` as its prefix, an active one `-` as its revocation date.
 */
export function formatTokens(tokens: readonly TokenRecord[]): string {
  if (tokens.length === 0) return 'no tokens (the admin token is not listed)';
  const date = (at: number | null) => (at === null ? '-' : new Date(at).toISOString());
  const rows = tokens.map((t) => [t.id, t.scope, t.prefix === null ? '*' : printable(t.prefix), t.revokedAt === null ? 'active' : 'revoked', date(t.createdAt), date(t.revokedAt)]);
  return table(['ID', 'SCOPE', 'PREFIX', 'STATE', 'CREATED', 'REVOKED'], rows);
}

export function formatStatus(s: ClusterStatus): string {
  return [
    `nodes:            ${s.nodes.alive} alive, ${s.nodes.suspect} suspect, ${s.nodes.dead} dead, ${s.nodes.draining} draining`,
    `files:            ${s.files}`,
    `bytes:            ${s.bytes} (${formatBytes(s.bytes)})`,
    `chunks:           ${s.chunks}`,
    `under-replicated: ${s.underReplicated}`,
    `lost:             ${s.lost}`,
    `repair:           ${s.repair.queued} queued, ${s.repair.running} running, ${count(s.repair.copiedChunks, 'chunk')} (${formatBytes(s.repair.copiedBytes)}) copied${waitingNote(s.repair.waitingForRoom ?? 0)}`,
    `garbage:          ${count(s.gc.pendingChunks, 'chunk')} in grace period, ${s.gc.deletedChunks} deleted`,
  ].join('\n');
}

/** Repair that cannot go on for lack of room is said on its line, not left to look like slow progress. */
function waitingNote(chunks: number): string {
  return chunks > 0 ? `; ${count(chunks, 'chunk')} waiting for room (no node can take another copy)` : '';
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** A resumed put (or content the cluster already has) sends only what the nodes lack; says how much. */
export function skippedNote(chunks: number): string {
  return chunks > 0 ? `; skipped ${count(chunks, 'chunk')} the nodes already had` : '';
}
