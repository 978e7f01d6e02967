import { isCairnError } from '@cairn/protocol';
import { Liveness } from './liveness';

const TIMEOUT_MS = 10_000;

function clockedLiveness() {
  let now = 1_000_000;
  const liveness = new Liveness({ timeoutMs: TIMEOUT_MS, now: () => now });
  return {
    liveness,
    advance: (ms: number) => (now += ms),
    rewind: (ms: number) => (now -= ms),
  };
}

describe('Liveness', () => {
  it('a node never heard from is dead', () => {
    const { liveness } = clockedLiveness();
    expect(liveness.state('n1')).toBe('dead');
    expect(liveness.liveNodes()).toEqual([]);
  });

  it('is alive until half the timeout, suspect until the timeout, then dead', () => {
    const { liveness, advance } = clockedLiveness();
    liveness.heartbeat('n1');
    expect(liveness.state('n1')).toBe('alive');
    advance(TIMEOUT_MS / 2 - 1);
    expect(liveness.state('n1')).toBe('alive');
    advance(1);
    expect(liveness.state('n1')).toBe('suspect');
    advance(TIMEOUT_MS / 2 - 1);
    expect(liveness.state('n1')).toBe('suspect');
    advance(1);
    expect(liveness.state('n1')).toBe('dead');
  });

  it('a heartbeat brings a suspect or dead node back to alive', () => {
    const { liveness, advance } = clockedLiveness();
    liveness.heartbeat('n1');
    advance(TIMEOUT_MS * 3);
    expect(liveness.state('n1')).toBe('dead');
    liveness.heartbeat('n1');
    expect(liveness.state('n1')).toBe('alive');
  });

  it('live nodes are the alive and the suspect ones', () => {
    const { liveness, advance } = clockedLiveness();
    liveness.heartbeat('dead-soon');
    advance(TIMEOUT_MS / 2);
    liveness.heartbeat('suspect-soon');
    advance(TIMEOUT_MS / 2);
    liveness.heartbeat('fresh');
    expect(liveness.state('dead-soon')).toBe('dead');
    expect(liveness.state('suspect-soon')).toBe('suspect');
    expect(liveness.liveNodes().sort()).toEqual(['fresh', 'suspect-soon']);
  });

  it('forget makes a node dead until its next heartbeat', () => {
    const { liveness } = clockedLiveness();
    liveness.heartbeat('n1');
    liveness.forget('n1');
    expect(liveness.state('n1')).toBe('dead');
    expect(liveness.liveNodes()).toEqual([]);
    liveness.heartbeat('n1');
    expect(liveness.liveNodes()).toEqual(['n1']);
  });

  it('a node known from before the start is suspect until it heartbeats, or dead once a timeout has passed', () => {
    const { liveness, advance } = clockedLiveness();
    liveness.expect('back-soon');
    liveness.expect('gone');
    expect(liveness.state('back-soon')).toBe('suspect');
    expect(liveness.liveNodes().sort()).toEqual(['back-soon', 'gone']);
    advance(300);
    liveness.heartbeat('back-soon');
    expect(liveness.state('back-soon')).toBe('alive');
    expect(liveness.liveNodes().sort()).toEqual(['back-soon', 'gone']);
    advance(TIMEOUT_MS - 301);
    expect(liveness.state('gone')).toBe('suspect');
    advance(1);
    expect(liveness.state('gone')).toBe('dead');
    expect(liveness.liveNodes()).toEqual(['back-soon']);
    expect(liveness.state('never-known')).toBe('dead');
  });

  it('a node expected after its heartbeat, or forgotten, gets no grace', () => {
    const { liveness, advance } = clockedLiveness();
    liveness.heartbeat('n1');
    liveness.expect('n1'); // heard already: its heartbeat rules
    advance(TIMEOUT_MS);
    expect(liveness.state('n1')).toBe('dead');
    liveness.expect('n2');
    liveness.forget('n2');
    expect(liveness.state('n2')).toBe('dead');
    expect(liveness.liveNodes()).toEqual([]);
  });

  it('a clock that steps back does not kill a node', () => {
    const { liveness, rewind } = clockedLiveness();
    liveness.heartbeat('n1');
    rewind(TIMEOUT_MS * 5);
    expect(liveness.state('n1')).toBe('alive');
  });

  it('works on the default monotonic clock', () => {
    const liveness = new Liveness({ timeoutMs: 60_000 });
    liveness.heartbeat('n1');
    expect(liveness.state('n1')).toBe('alive');
  });

  it('refuses a timeout that is not a positive number', () => {
    for (const timeoutMs of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      let error: unknown;
      try {
        new Liveness({ timeoutMs });
      } catch (err) {
        error = err;
      }
      expect(isCairnError(error, 'E_USAGE')).toBe(true);
    }
  });
});
