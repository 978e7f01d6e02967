import fc from 'fast-check';
import { RecentEvents } from './recent-events';

describe('RecentEvents', () => {
  it('counts the events of the window per key, and forgets older ones', () => {
    let now = 1000;
    const recent = new RecentEvents(2000, () => now);
    recent.note('a');
    now += 500;
    recent.note('a');
    recent.note('b');
    expect(recent.count('a')).toBe(2);
    expect(recent.count('b')).toBe(1);
    expect(recent.count('c')).toBe(0);
    now = 2999; // 1999 ms after the first
    expect(recent.count('a')).toBe(2);
    now = 3000; // the first is 2000 ms old: out
    expect(recent.count('a')).toBe(1);
    now = 10_000;
    expect(recent.count('a')).toBe(0);
    recent.note('a');
    expect(recent.count('a')).toBe(1);
  });

  it('agrees with filtering every event ever noted', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 50 }),
        fc.array(fc.record({ advance: fc.integer({ min: 0, max: 30 }), key: fc.constantFrom('a', 'b'), note: fc.boolean() }), { maxLength: 300 }),
        (windowMs, steps) => {
          let now = 0;
          const recent = new RecentEvents(windowMs, () => now);
          const all: { key: string; at: number }[] = [];
          for (const step of steps) {
            now += step.advance;
            if (step.note) {
              recent.note(step.key);
              all.push({ key: step.key, at: now });
            }
            const expected = all.filter((e) => e.key === step.key && now - e.at < windowMs).length;
            expect(recent.count(step.key)).toBe(expected);
          }
        },
      ),
    );
  });
});
