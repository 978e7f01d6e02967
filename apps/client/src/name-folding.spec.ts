import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nameKey, probeNameFolding } from './name-folding';

describe('probeNameFolding', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-folding-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('finds that a Linux file system compares names exactly, and leaves no probe behind', async () => {
    // The machines this runs on use ext4, xfs or tmpfs without casefold: names compare byte for byte.
    expect(await probeNameFolding(dir)).toEqual({ ignoresCase: false, ignoresNormalisation: false });
    expect(await readdir(dir)).toEqual([]);
  });

  it('takes a directory it cannot write a probe into as comparing names exactly', async () => {
    // Not a permission test: root writes anywhere. A directory that is not there refuses any process.
    expect(await probeNameFolding(join(dir, 'missing'))).toEqual({ ignoresCase: false, ignoresNormalisation: false });
  });
});

describe('nameKey', () => {
  const composed = 'Photos/\u00c9t\u00e9.txt'; // Été, composed
  const decomposed = composed.normalize('NFD');

  it('keeps paths apart where the file system compares names exactly', () => {
    const exact = { ignoresCase: false, ignoresNormalisation: false };
    expect(nameKey('A.txt', exact)).not.toBe(nameKey('a.txt', exact));
    expect(nameKey(composed, exact)).not.toBe(nameKey(decomposed, exact));
  });

  it('gives one key to paths differing only in case where case is ignored', () => {
    const caseless = { ignoresCase: true, ignoresNormalisation: false };
    expect(nameKey('Photos/A.txt', caseless)).toBe(nameKey('photos/a.TXT', caseless));
    expect(nameKey('a.txt', caseless)).not.toBe(nameKey('b.txt', caseless));
    expect(nameKey('ΟΔΟΣ', caseless)).toBe(nameKey('οδοσ', caseless)); // a final sigma too, as APFS and NTFS fold it
    expect(nameKey('ΟΔΟΣ', caseless)).toBe(nameKey('οδος', caseless));
    expect(nameKey('straße', caseless)).not.toBe(nameKey('strasse', caseless)); // no letter becomes two
    expect(nameKey('STRAẞE', caseless)).toBe(nameKey('straße', caseless));
  });

  it('gives one key to composed and decomposed spellings, and to both cases, on a macOS-like file system', () => {
    const apfs = { ignoresCase: true, ignoresNormalisation: true };
    expect(nameKey(composed, apfs)).toBe(nameKey(decomposed, apfs));
    expect(nameKey(composed, apfs)).toBe(nameKey(decomposed.toLowerCase(), apfs));
  });
});
