import fc from 'fast-check';
import { formatBytes, formatFileLine, formatNodes, formatStat, printable } from './format';

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

  it('leaves no control character in anything, and changes nothing without one', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (text) => {
        const shown = printable(text);
        expect(hasControl(shown)).toBe(false);
        if (!hasControl(text)) expect(shown).toBe(text);
      }),
    );
  });

  it('is used for the names in ls and stat lines', () => {
    const name = 'evil\n     1.0 KiB  2026-01-01T00:00:00.000Z  fake';
    expect(formatFileLine({ name, size: 1, sha256: 'a'.repeat(64), chunkCount: 1, replicas: 2, updatedAt: 0 } as never).split('\n')).toHaveLength(1);
    expect(formatStat({ name, size: 1, sha256: 'a'.repeat(64), chunkCount: 0, replicas: 2, updatedAt: 0, chunks: [] } as never)).toContain('name:     evil\\n');
  });
});
