import { MessageAdmission } from './message-admission';

describe('MessageAdmission', () => {
  it('admits messages while they fit, and one alone whatever its size', () => {
    const admission = new MessageAdmission(100);
    const told: string[] = [];
    const a = admission.admit(60, () => told.push('a'));
    const b = admission.admit(40, () => told.push('b'));
    expect([a.admitted, b.admitted]).toEqual([true, true]);
    expect(admission.admittedBytes).toBe(100);
    a.release();
    b.release();
    const huge = admission.admit(1000, () => told.push('huge'));
    expect(huge.admitted).toBe(true); // nothing else admitted: never refuses a message the protocol allows
    expect(told).toEqual([]);
  });

  it('makes the rest wait, first come first served, and lets them in as room frees', () => {
    const admission = new MessageAdmission(100);
    const told: string[] = [];
    const first = admission.admit(80, () => told.push('first'));
    const big = admission.admit(50, () => told.push('big'));
    const small = admission.admit(10, () => told.push('small')); // fits, but does not overtake `big`
    expect([first.admitted, big.admitted, small.admitted]).toEqual([true, false, false]);
    expect(admission.waitingCount).toBe(2);

    first.release();

    expect(told).toEqual(['big', 'small']);
    expect(admission.admittedBytes).toBe(60);
    expect(admission.waitingCount).toBe(0);
  });

  it('lets a waiting message leave the queue, and counts every release once', () => {
    const admission = new MessageAdmission(100);
    const told: string[] = [];
    const first = admission.admit(100, () => told.push('first'));
    const gone = admission.admit(100, () => told.push('gone'));
    const next = admission.admit(30, () => told.push('next'));
    gone.release(); // its connection closed while it waited
    gone.release();
    expect(admission.waitingCount).toBe(1);
    first.release();
    first.release();
    expect(told).toEqual(['next']);
    expect(admission.admittedBytes).toBe(30);
    next.release();
    expect(admission.admittedBytes).toBe(0);
  });

  it('refuses a cap that is not a whole number of bytes', () => {
    expect(() => new MessageAdmission(-1)).toThrow(RangeError);
    expect(() => new MessageAdmission(1.5)).toThrow(RangeError);
  });
});
