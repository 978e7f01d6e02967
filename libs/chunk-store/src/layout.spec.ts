import { join } from 'node:path';
import { ChunkLayout, TEMP_EXTENSION } from './layout';

const HASH = '0123456789abcdef'.repeat(4);

describe('ChunkLayout', () => {
  const layout = new ChunkLayout('/srv/cairn');

  it('places a chunk two fan-out levels deep, in a file named by its full hash', () => {
    expect(layout.locate(HASH)).toEqual({
      outerDir: join('/srv/cairn', 'chunks', '01'),
      innerDir: join('/srv/cairn', 'chunks', '01', '23'),
      file: join('/srv/cairn', 'chunks', '01', '23', HASH),
    });
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

  it('recognises fan-out directory names and where a chunk belongs', () => {
    expect(layout.isFanOutName('0a')).toBe(true);
    expect(['0A', 'a', 'abc', '..', 'zz'].some((name) => layout.isFanOutName(name))).toBe(false);
    expect(layout.belongsIn(HASH, '01', '23')).toBe(true);
    expect(layout.belongsIn(HASH, '23', '01')).toBe(false);
  });
});
