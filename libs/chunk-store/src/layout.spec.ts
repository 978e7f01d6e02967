import { join } from 'node:path';
import { ChunkLayout, TEMP_EXTENSION } from './layout';

const HASH = '0123456789abcdef'.repeat(4);

describe('ChunkLayout', () => {
  const layout = new ChunkLayout('/srv/cairn');

  it('places a chunk in one of 256 fan-out directories, in a file named by its full hash', () => {
    expect(layout.locate(HASH)).toEqual({
      dir: join('/srv/cairn', 'chunks', '01'),
      file: join('/srv/cairn', 'chunks', '01', HASH),
    });
    const all = layout.fanOutDirs();
    expect(all).toHaveLength(256);
    expect(new Set(all).size).toBe(256);
    expect(all[0]).toBe(join('/srv/cairn', 'chunks', '00'));
    expect(all[255]).toBe(join('/srv/cairn', 'chunks', 'ff'));
    expect(all).toContain(layout.locate(HASH).dir);
  });

  it('gives every write its own temp file in tmp/, named after the hash', () => {
    const first = layout.tempFileFor(HASH);
    const second = layout.tempFileFor(HASH);
    expect(first).not.toBe(second);
    for (const temp of [first, second]) {
      expect(temp.startsWith(join('/srv/cairn', 'tmp', `${HASH}.`))).toBe(true);
      expect(temp.endsWith(TEMP_EXTENSION)).toBe(true);
    }
  });

  it('never gives two layouts of one root (two processes, one after the other) the same temp names', () => {
    const other = new ChunkLayout('/srv/cairn');
    const ours = new Set(Array.from({ length: 1000 }, () => layout.tempFileFor(HASH)));
    expect(ours.size).toBe(1000);
    for (let i = 0; i < 1000; i++) expect(ours.has(other.tempFileFor(HASH))).toBe(false);
  });

  it('names each quarantined copy apart, even two of one chunk in the same millisecond, starting with its hash', () => {
    const at = 1_700_000_000_000;
    const names = [layout.quarantineFileFor(HASH, at), layout.quarantineFileFor(HASH, at), new ChunkLayout('/srv/cairn').quarantineFileFor(HASH, at)];
    expect(new Set(names).size).toBe(3);
    for (const name of names) expect(name.startsWith(join('/srv/cairn', 'quarantine', `${HASH}.${at}.`))).toBe(true);
  });

  it('recognises fan-out directory names and where a chunk belongs', () => {
    expect(layout.isFanOutName('0a')).toBe(true);
    expect(['0A', 'a', 'abc', '..', 'zz'].some((name) => layout.isFanOutName(name))).toBe(false);
    expect(layout.belongsIn(HASH, '01')).toBe(true);
    expect(layout.belongsIn(HASH, '23')).toBe(false);
    expect(layout.belongedIn(HASH, '01', '23')).toBe(true); // the former two-level shape
    expect(layout.belongedIn(HASH, '23', '01')).toBe(false);
  });
});
