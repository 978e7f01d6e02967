import { MAX_PAGE } from '@cairn/protocol';
import { PreparedCopyFinder } from './prepared-copy-finder';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const uploads = (from: number, count: number, nodes: string[]) => Array.from({ length: count }, (_, i) => ({ id: `u${from + i}`, nodes }));

/** A finder whose requests the test ends: each `ask` waits until `answerAll()`. */
function finder(maxWaiting?: number) {
  const asked: Array<{ node: string; uploads: string[] }> = [];
  let answers: Array<() => void> = [];
  const finder = new PreparedCopyFinder({
    gatherMs: 5,
    maxWaiting,
    ask: (node, ids) => {
      asked.push({ node, uploads: ids });
      return new Promise<void>((resolve) => answers.push(resolve));
    },
  });
  const answerAll = () => {
    const pending = answers;
    answers = [];
    pending.forEach((resolve) => resolve());
  };
  return { finder, asked, answerAll };
}

describe('PreparedCopyFinder', () => {
  it('gathers what comes within its window into one request per node', async () => {
    const { finder: f, asked, answerAll } = finder();
    f.find(uploads(0, 2, ['n1', 'n2']));
    f.find(uploads(2, 1, ['n1', 'n3']));
    f.find(uploads(0, 1, ['n1'])); // the same upload again: asked about once
    expect(asked).toEqual([]);
    await sleep(30);
    expect(asked).toEqual([
      { node: 'n1', uploads: ['u0', 'u1', 'u2'] },
      { node: 'n2', uploads: ['u0', 'u1'] },
      { node: 'n3', uploads: ['u2'] },
    ]);
    answerAll();
    await sleep(30);
    expect(asked).toHaveLength(3);
    expect(f.waitingCount).toBe(0);
  });

  it(`asks a page of ${MAX_PAGE} at a time, one request in flight per node`, async () => {
    const { finder: f, asked, answerAll } = finder();
    f.find(uploads(0, MAX_PAGE + 10, ['n1']));
    await sleep(30);
    expect(asked.map((a) => a.uploads.length)).toEqual([MAX_PAGE]);
    f.find(uploads(MAX_PAGE + 10, 5, ['n1'])); // while the first is in flight
    await sleep(30);
    expect(asked).toHaveLength(1);
    answerAll();
    await sleep(30);
    expect(asked.map((a) => a.uploads.length)).toEqual([MAX_PAGE, 15]);
    expect(asked[1].uploads[0]).toBe(`u${MAX_PAGE}`);
    answerAll();
    await sleep(30);
    expect(asked).toHaveLength(2);
  });

  it('keeps at most maxWaiting ids per node, leaving the rest to the node\'s next registration', async () => {
    const { finder: f, asked, answerAll } = finder(3);
    f.find(uploads(0, 5, ['n1', 'n2']));
    expect(f.waitingCount).toBe(6);
    await sleep(30);
    expect(asked).toEqual([
      { node: 'n1', uploads: ['u0', 'u1', 'u2'] },
      { node: 'n2', uploads: ['u0', 'u1', 'u2'] },
    ]);
    answerAll();
  });
});
