import { MAX_TIMER_MS, parseDuration, parseTimerDuration } from './units';

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['3s', 3000],
    ['2m', 120_000],
    ['1.5h', 5_400_000],
    ['25d', 2_160_000_000],
    ['250', 250],
  ])('reads %s as %d ms', (value, ms) => {
    expect(parseDuration(value)).toBe(ms);
  });

  it('names what it read in a usage error', () => {
    expect(() => parseDuration('soon', '--timeout')).toThrow(expect.objectContaining({ code: 'E_USAGE', message: expect.stringMatching(/^--timeout: "soon" is not a duration/) }));
  });
});

describe('parseTimerDuration', () => {
  it('takes up to the longest delay a Node timer has, 2^31-1 ms', () => {
    expect(parseTimerDuration('24d', '--timeout')).toBe(24 * 86_400_000);
    expect(parseTimerDuration(MAX_TIMER_MS)).toBe(MAX_TIMER_MS);
  });

  it('refuses longer, which Node would fire at once with a TimeoutOverflowWarning', () => {
    expect(() => parseTimerDuration('25d', 'CAIRN_TIMEOUT')).toThrow(expect.objectContaining({ code: 'E_USAGE', message: 'CAIRN_TIMEOUT must be at most 24.8d, got 25d' }));
    expect(() => parseTimerDuration(MAX_TIMER_MS + 1)).toThrow(expect.objectContaining({ code: 'E_USAGE' }));
  });
});
