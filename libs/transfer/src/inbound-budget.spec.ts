import { InboundBudget, type Pausable } from './inbound-budget';

function connection() {
  const calls: string[] = [];
  const c: Pausable & { calls: string[] } = { calls, pause: () => calls.push('pause'), resume: () => calls.push('resume') };
  return c;
}

describe('InboundBudget', () => {
  it('pauses every connection once the bytes held pass the cap, and resumes them once back under it', () => {
    const budget = new InboundBudget(100);
    const [a, b] = [connection(), connection()];
    budget.attach(a);
    budget.attach(b);

    const first = budget.hold(60);
    expect(budget.isOver).toBe(false);
    const second = budget.hold(60); // admitted all the same: it is in memory already
    expect(budget.heldBytes).toBe(120);
    expect(budget.isOver).toBe(true);
    expect([a.calls, b.calls]).toEqual([['pause'], ['pause']]);

    const third = budget.hold(10); // no second pause
    expect(a.calls).toEqual(['pause']);
    first();
    expect(budget.heldBytes).toBe(70);
    expect([a.calls, b.calls]).toEqual([['pause', 'resume'], ['pause', 'resume']]);
    second();
    third();
    expect(budget.heldBytes).toBe(0);
    expect(a.calls).toEqual(['pause', 'resume']);
  });

  it('gives bytes back once however often it is told, pauses a connection attached while over, and forgets a detached one', () => {
    const budget = new InboundBudget(10);
    const release = budget.hold(11);
    release();
    release();
    expect(budget.heldBytes).toBe(0);

    const held = budget.hold(11);
    const late = connection();
    budget.attach(late);
    expect(late.calls).toEqual(['pause']);
    budget.detach(late);
    held();
    expect(late.calls).toEqual(['pause']);
  });

  it('refuses a cap that is not a whole number of bytes', () => {
    expect(() => new InboundBudget(-1)).toThrow(RangeError);
    expect(() => new InboundBudget(1.5)).toThrow(RangeError);
  });
});
