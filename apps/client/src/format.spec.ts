import { formatBytes, formatNodes } from './format';

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
