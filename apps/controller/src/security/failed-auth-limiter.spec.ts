import { FAILED_AUTH_WINDOW_MS, FailedAuthLimiter, MAX_FAILED_AUTH } from './failed-auth-limiter';

function failTimes(limiter: FailedAuthLimiter, addresses: (i: number) => string, times = MAX_FAILED_AUTH): void {
  for (let i = 0; i < times; i++) limiter.recordFailure(addresses(i));
}

describe('FailedAuthLimiter', () => {
  let now: number;
  let limiter: FailedAuthLimiter;
  beforeEach(() => {
    now = 1_000_000;
    limiter = new FailedAuthLimiter(() => now);
  });

  it(`blocks an address after ${MAX_FAILED_AUTH} failures within the window, and no other address`, () => {
    failTimes(limiter, () => '192.0.2.7', MAX_FAILED_AUTH - 1);
    expect(limiter.isBlocked('192.0.2.7')).toBe(false);
    limiter.recordFailure('192.0.2.7');
    expect(limiter.isBlocked('192.0.2.7')).toBe(true);
    expect(limiter.isBlocked('192.0.2.8')).toBe(false);
  });

  it('lets the address in again once the window has passed since its first failure', () => {
    failTimes(limiter, () => '192.0.2.7');
    now += FAILED_AUTH_WINDOW_MS;
    expect(limiter.isBlocked('192.0.2.7')).toBe(true);
    now += 1;
    expect(limiter.isBlocked('192.0.2.7')).toBe(false);
  });

  it('says which failure locks the address out, once, and how long it stays locked', () => {
    const locking = Array.from({ length: MAX_FAILED_AUTH + 2 }, () => limiter.recordFailure('192.0.2.7'));
    expect(locking.filter(Boolean)).toHaveLength(1);
    expect(locking[MAX_FAILED_AUTH - 1]).toBe(true);
    expect(limiter.blockedForMs('192.0.2.7')).toBe(FAILED_AUTH_WINDOW_MS);
    now += 15_000;
    expect(limiter.blockedForMs('192.0.2.7')).toBe(FAILED_AUTH_WINDOW_MS - 15_000);
    expect(limiter.blockedForMs('192.0.2.8')).toBe(0);
    now += FAILED_AUTH_WINDOW_MS;
    expect(limiter.blockedForMs('192.0.2.7')).toBe(0);
  });

  it('counts failures from anywhere in an IPv6 /64 together: one host may use any address in it', () => {
    failTimes(limiter, (i) => `2001:db8:1:2::${(i + 1).toString(16)}`);
    expect(limiter.isBlocked('2001:db8:1:2:abcd::99')).toBe(true);
    expect(limiter.isBlocked('2001:db8:1:3::1')).toBe(false);
  });

  it('counts an IPv4 address the same whether its socket saw it as IPv4 or IPv4-mapped IPv6', () => {
    failTimes(limiter, (i) => (i % 2 ? '::ffff:192.0.2.7' : '192.0.2.7'));
    expect(limiter.isBlocked('192.0.2.7')).toBe(true);
    expect(limiter.isBlocked('::ffff:192.0.2.7')).toBe(true);
  });
});
