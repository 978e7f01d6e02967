import fc from 'fast-check';
import { count, formatBytes, formatFileLine, formatNodes, formatStat, formatStatus, formatTokens, printable, skippedNote } from './format';

describe('formatBytes', () => {
  it.each([
    [0, '0 B'],
    [1023, '1023 B'],
    [1024, '1.0 KiB'],
    [1536, '1.5 KiB'],
    [10 * 2 ** 20, '10.0 MiB'],
    [2 ** 30, '1.0 GiB'],
    [5 * 2 ** 40, '5.0 TiB'],
    [2 ** 50, '1024.0 TiB'],
  ])('%i bytes → %s', (n, text) => {
    expect(formatBytes(n)).toBe(text);
  });
});

describe('formatTokens', () => {
  it('says so when there is none', () => {
    expect(formatTokens([])).toBe('no tokens (the admin token is not listed)');
  });

  it('prints one aligned row per token under a header, with its dates as ls gives them', () => {
    const created = Date.UTC(2026, 0, 2, 3, 4, 5, 6);
    const revoked = Date.UTC(2026, 1, 3, 4, 5, 6, 7);
    expect(
      formatTokens([
        { id: '7d1197dec68e00ea', scope: 'read', prefix: null, createdAt: created, revokedAt: null },
        { id: 'cca473f6f419a05f', scope: 'admin', prefix: 'w2/\n', createdAt: created, revokedAt: revoked },
      ]).split('\n'),
    ).toEqual([
      'ID                SCOPE  PREFIX  STATE    CREATED                   REVOKED',
      '7d1197dec68e00ea  read   *       active   2026-01-02T03:04:05.006Z  -',
      'cca473f6f419a05f  admin  w2/\\n   revoked  2026-01-02T03:04:05.006Z  2026-02-03T04:05:06.007Z',
    ]);
  });
});

describe('formatNodes', () => {
  it('says so when no node has registered', () => {
    expect(formatNodes([])).toBe('no nodes have registered');
  });

  it('prints one aligned row per node under a header', () => {
    const lines = formatNodes([
      { id: 'n1', address: '127.0.0.1:7701', zone: 'rack-a', state: 'alive', capacity: 2 ** 30, used: 0, chunks: 3, lastSeen: 0 },
      { id: 'node-22', address: '127.0.0.1:7702', zone: null, state: 'dead', capacity: 2 ** 30, used: 2 ** 20, chunks: 0, lastSeen: 0 },
    ]).split('\n');

    expect(lines).toHaveLength(3);
    expect(lines[0].split(/\s{2,}/)).toEqual(['ID', 'ADDRESS', 'ZONE', 'STATE', 'USED / CAPACITY', 'CHUNKS']);
    expect(lines[1].split(/\s{2,}/)).toEqual(['n1', '127.0.0.1:7701', 'rack-a', 'alive', '0 B / 1.0 GiB', '3']);
    expect(lines[2].split(/\s{2,}/)).toEqual(['node-22', '127.0.0.1:7702', '-', 'dead', '1.0 MiB / 1.0 GiB', '0']);
    expect(lines[1].indexOf('127.0.0.1:7701')).toBe(lines[2].indexOf('127.0.0.1:7702'));
  });
});

/** C0, DEL or C1, by code point. */
const hasControl = (text: string) => [...text].some((c) => c.codePointAt(0)! < 0x20 || (c.codePointAt(0)! >= 0x7f && c.codePointAt(0)! <= 0x9f));

describe('printable', () => {
  it('writes out control characters, so that a name cannot forge a line or drive the terminal', () => {
    expect(printable('a\nb\tc\rd')).toBe('a\\nb\\tc\\rd');
    expect(printable('\u001b[2J\u001b]0;pwned\u0007')).toBe('\\x1b[2J\\x1b]0;pwned\\x07');
    expect(printable('del\u007f c1\u009b')).toBe('del\\x7f c1\\x9b');
    expect(printable('photos/été 2024 ✓.jpg')).toBe('photos/été 2024 ✓.jpg');
  });

  it('leaves no control character in anything, and changes nothing without one or a backslash', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (text) => {
        const shown = printable(text);
        expect(hasControl(shown)).toBe(false);
        if (!hasControl(text) && !text.includes('\\')) expect(shown).toBe(text);
      }),
    );
  });

  it('doubles a backslash, so that a name holding a newline and one holding the two characters \\n are told apart', () => {
    expect(printable('a\nb')).toBe('a\\nb');
    expect(printable('a\\nb')).toBe('a\\\\nb');
    expect(printable('C:\\x1b')).toBe('C:\\\\x1b');
  });

  it('shows two different texts differently', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' }), (a, b) => {
        if (a !== b) expect(printable(a)).not.toBe(printable(b));
      }),
    );
    expect(printable('\u001b')).not.toBe(printable('\\x1b'));
  });

  it('is used for the names in ls and stat lines', () => {
    const name = 'evil\n     1.0 KiB  2026-01-01T00:00:00.000Z  fake';
    expect(formatFileLine({ name, size: 1, sha256: 'a'.repeat(64), chunkCount: 1, replicas: 2, updatedAt: 0 } as never).split('\n')).toHaveLength(1);
    expect(formatStat({ name, size: 1, sha256: 'a'.repeat(64), chunkCount: 0, replicas: 2, updatedAt: 0, chunks: [] } as never)).toContain('name:     evil\\n');
  });
});

describe('counts', () => {
  it('name one thing in the singular, and any other number in the plural', () => {
    expect([0, 1, 2].map((n) => count(n, 'file'))).toEqual(['0 files', '1 file', '2 files']);
    expect(skippedNote(0)).toBe('');
    expect(skippedNote(1)).toBe('; skipped 1 chunk the nodes already had');
    expect(skippedNote(3)).toBe('; skipped 3 chunks the nodes already had');
  });

  it('in status', () => {
    const status = { nodes: { alive: 3, suspect: 0, dead: 0, draining: 0 }, files: 1, bytes: 1, chunks: 1, underReplicated: 0, lost: 0, repair: { queued: 0, running: 0, copiedChunks: 1, copiedBytes: 1 }, gc: { pendingChunks: 1, deletedChunks: 0 } };
    const lines = formatStatus(status as never).split('\n');
    expect(lines).toContain('repair:           0 queued, 0 running, 1 chunk (1 B) copied');
    expect(lines).toContain('garbage:          1 chunk in grace period, 0 deleted');
  });

  it('in status, repair waiting for room is said on its line', () => {
    const status = { nodes: { alive: 2, suspect: 0, dead: 0, draining: 1 }, files: 1, bytes: 1, chunks: 5, underReplicated: 5, lost: 0, repair: { queued: 0, running: 0, copiedChunks: 0, copiedBytes: 0, waitingForRoom: 5 }, gc: { pendingChunks: 0, deletedChunks: 0 } };
    expect(formatStatus(status as never).split('\n')).toContain('repair:           0 queued, 0 running, 0 chunks (0 B) copied; 5 chunks waiting for room (no node can take another copy)');
  });
});

describe('formatStat', () => {
  it('says where a chunk with no copy left lives: on no live node (lost)', () => {
    const chunk = (index: number, nodes: string[]) => ({ index, hash: 'a934'.padEnd(64, '0'), size: 639_900, nodes, nodeStates: Object.fromEntries(nodes.map((id) => [id, 'alive'])) });
    const lines = formatStat({ name: 'f', size: 1, sha256: 'a'.repeat(64), chunkCount: 2, replicas: 2, updatedAt: 0, chunks: [chunk(6, ['n1', 'n2']), chunk(7, [])] } as never).split('\n');
    expect(lines.slice(-2)).toEqual(['  #6 a934000000000000… 624.9 KiB on n1, n2', '  #7 a934000000000000… 624.9 KiB on no live node (lost)']);
  });

  it('marks a copy on a node that is not alive with its state, and says when no copy is on a live node', () => {
    const chunk = (index: number, nodeStates: Record<string, string>) => ({ index, hash: 'b'.repeat(64), size: 10, nodes: Object.keys(nodeStates), nodeStates });
    const stat = { name: 'f', size: 1, sha256: 'a'.repeat(64), chunkCount: 2, replicas: 2, updatedAt: 0, chunks: [chunk(0, { n1: 'alive', n2: 'dead' }), chunk(1, { n2: 'dead', n3: 'suspect' })] };
    expect(formatStat(stat as never).split('\n').slice(-2)).toEqual([
      '  #0 bbbbbbbbbbbbbbbb… 10 B on n1, n2 (dead)',
      '  #1 bbbbbbbbbbbbbbbb… 10 B on n2 (dead), n3 (suspect): no live copy',
    ]);
  });
});
