import { SOUND_FOR_MS, SoundCopies } from './sound-copies';

describe('SoundCopies', () => {
  it('takes a copy as sound for SOUND_FOR_MS after a check found it so, then checks it again', () => {
    let now = 1_000;
    const sound = new SoundCopies(() => now);
    sound.add('h@n1');
    expect(sound.has('h@n1')).toBe(true);
    expect(sound.has('h@n2')).toBe(false);
    now += SOUND_FOR_MS - 1;
    expect(sound.has('h@n1')).toBe(true);
    now += 1;
    expect(sound.has('h@n1')).toBe(false);
  });

  it('forgets a copy found gone, and keeps at most 10 000, the oldest going first', () => {
    const sound = new SoundCopies(() => 0);
    sound.add('gone@n1');
    sound.forget('gone@n1');
    expect(sound.has('gone@n1')).toBe(false);
    for (let i = 0; i <= 10_000; i++) sound.add(`h${i}@n1`);
    expect(sound.has('h0@n1')).toBe(false);
    expect(sound.has('h1@n1')).toBe(true);
    expect(sound.has('h10000@n1')).toBe(true);
  });
});
