import { DeletionsInFlight } from './deletions-in-flight';

describe('DeletionsInFlight and the commits of prepared uploads', () => {
  it('refuses a commit naming a copy whose deletion may be under way, on that node only', () => {
    const deletions = new DeletionsInFlight();
    const batch = deletions.begin('n1', ['x']);
    expect(deletions.holdForCommit([{ hash: 'x', nodes: ['n2', 'n1'] }])).toBe(false);
    const elsewhere = deletions.holdForCommit([{ hash: 'x', nodes: ['n2', 'n3'] }]);
    expect(elsewhere).not.toBe(false);
    if (elsewhere) elsewhere.release();
    batch.end();
    expect(deletions.holdForCommit([{ hash: 'x', nodes: ['n1'] }])).not.toBe(false);
  });

  it('begins no deletion of a hash a commit is recording until it is released, and keeps the others', () => {
    const deletions = new DeletionsInFlight();
    const first = deletions.holdForCommit([{ hash: 'x', nodes: ['n1'] }]);
    const second = deletions.holdForCommit([{ hash: 'x', nodes: ['n2'] }]);
    if (!first || !second) throw new Error('refused');
    const batch = deletions.begin('n1', ['w', 'x', 'y']);
    expect(batch.hashes).toEqual(['w', 'y']);
    expect([...deletions.nodesDeleting('x')]).toEqual([]);
    expect([...deletions.nodesDeleting('y')]).toEqual(['n1']);
    first.release();
    first.release(); // idempotent: the second commit still holds x
    expect(deletions.begin('n2', ['x']).hashes).toEqual([]);
    second.release();
    expect(deletions.begin('n2', ['x']).hashes).toEqual(['x']);
    expect([...deletions.nodesDeleting('x')]).toEqual(['n2']);
  });

  it('ends the unanswered deletions of a node forgotten, which no report of it will end', () => {
    const deletions = new DeletionsInFlight();
    const link = {};
    deletions.endAtReport(deletions.begin('n1', ['x', 'y']), link);
    deletions.endAtReport(deletions.begin('n2', ['x']), link);
    expect([...deletions.nodesDeleting('x')].sort()).toEqual(['n1', 'n2']);

    deletions.nodeForgotten('n1');

    expect([...deletions.nodesDeleting('x')]).toEqual(['n2']);
    expect([...deletions.nodesDeleting('y')]).toEqual([]);
  });
});
