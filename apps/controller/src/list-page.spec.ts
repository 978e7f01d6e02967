import { MAX_NAME_BYTES, encodeControl, type FileInfo } from '@cairn/protocol';
import { fitListPage } from './list-page';

const info = (name: string): FileInfo => ({
  id: 1,
  name,
  size: 1,
  sha256: 'a'.repeat(64),
  manifestSha256: 'b'.repeat(64),
  replicas: 2,
  chunkCount: 1,
  createdAt: 1_700_000_000_000,
  updatedAt: 1_700_000_000_000,
});

describe('fitListPage', () => {
  it('keeps a page that fits as it is, with a next name only when the page is full', () => {
    const files = ['a', 'b', 'c'].map(info);
    expect(fitListPage(files, 3)).toEqual({ entries: files, next: 'c' });
    expect(fitListPage(files, 10)).toEqual({ entries: files, next: undefined });
    expect(fitListPage([], 10)).toEqual({ entries: [], next: undefined });
  });

  it('cuts a page of 1000 files with names of the longest kind to what one message carries, saying where to go on', () => {
    const long = (i: number) => `${String(i).padStart(4, '0')}/${'é'.repeat((MAX_NAME_BYTES - 5) / 2)}`;
    const files = Array.from({ length: 1000 }, (_, i) => info(long(i)));
    expect(() => encodeControl('file.list-page', 1, { files, next: files[999].name })).toThrow(/limit/); // as it was

    const { entries, next } = fitListPage(files, 1000);
    expect(entries.length).toBeGreaterThan(500);
    expect(entries.length).toBeLessThan(1000);
    expect(entries).toEqual(files.slice(0, entries.length));
    expect(next).toBe(entries[entries.length - 1].name);
    expect(() => encodeControl('file.list-page', 1, { files: entries, next })).not.toThrow();
  });

  it('measures entries as they are sent (JSON, UTF-8)', () => {
    const files = ['a', 'b'].map(info);
    const one = Buffer.byteLength(JSON.stringify(files[0])) + 1;
    expect(fitListPage(files, 2, one)).toEqual({ entries: [files[0]], next: 'a' });
    expect(fitListPage(files, 2, 2 * one)).toEqual({ entries: files, next: 'b' });
  });
});
