import fc from 'fast-check';
import { ReadPauses } from './read-pauses';

function connection() {
  const calls: string[] = [];
  return { calls, pause: () => calls.push('pause'), resume: () => calls.push('resume') };
}

describe('ReadPauses', () => {
  it('pauses on the first reason and resumes only once the last one is gone', () => {
    const socket = connection();
    const pauses = new ReadPauses<'budget' | 'backlog'>(socket);

    pauses.pause('budget');
    pauses.pause('backlog');
    pauses.pause('budget'); // already paused for it
    pauses.resume('budget');
    expect(socket.calls).toEqual(['pause']); // still paused for the backlog
    expect(pauses.has('backlog')).toBe(true);
    pauses.resume('backlog');
    pauses.resume('backlog'); // not paused for it any more
    expect(socket.calls).toEqual(['pause', 'resume']);
  });

  it('is paused exactly while some reason holds, whatever the order of calls (property)', () => {
    const reasons = ['a', 'b', 'c'] as const;
    fc.assert(
      fc.property(fc.array(fc.record({ pause: fc.boolean(), reason: fc.constantFrom(...reasons) }), { maxLength: 40 }), (steps) => {
        const socket = connection();
        const pauses = new ReadPauses<(typeof reasons)[number]>(socket);
        const held = new Set<string>();
        for (const step of steps) {
          if (step.pause) {
            pauses.pause(step.reason);
            held.add(step.reason);
          } else {
            pauses.resume(step.reason);
            held.delete(step.reason);
          }
          const pausedNow = socket.calls.filter((c) => c === 'pause').length > socket.calls.filter((c) => c === 'resume').length;
          expect(pausedNow).toBe(held.size > 0);
          expect(socket.calls.join(',')).not.toMatch(/pause,pause|resume,resume/);
        }
      }),
    );
  });
});
