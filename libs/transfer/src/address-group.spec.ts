import fc from 'fast-check';
import { addressGroup } from './address-group';

const hextet = fc.integer({ min: 0, max: 0xffff });
const hextets = fc.array(hextet, { minLength: 8, maxLength: 8 });

/** Every way an address may be written: in full with leading zeros, and as Node prints it (compressed). */
const full = (h: number[]) => h.map((x) => x.toString(16).padStart(4, '0')).join(':');
const compressed = (h: number[]) => new URL(`http://[${full(h)}]/`).hostname.slice(1, -1);
const isIPv4Mapped = (h: number[]) => h.slice(0, 5).every((x) => x === 0) && h[5] === 0xffff;
const prefixOf = (h: number[]) => `${h.slice(0, 4).map((x) => x.toString(16)).join(':')}::/64`;

describe('addressGroup', () => {
  it('keeps IPv4 addresses, and anything that is not an IPv6 address, as they are', () => {
    expect(addressGroup('192.0.2.7')).toBe('192.0.2.7');
    expect(addressGroup('127.0.0.1')).toBe('127.0.0.1');
    expect(addressGroup('unknown')).toBe('unknown');
    expect(addressGroup('')).toBe('');
    expect(addressGroup('2001:db8::1::2')).toBe('2001:db8::1::2');
  });

  it('counts an IPv6 address as its /64', () => {
    expect(addressGroup('2001:db8:1:2:aaaa:bbbb:cccc:dddd')).toBe('2001:db8:1:2::/64');
    expect(addressGroup('2001:db8:1:2::1')).toBe('2001:db8:1:2::/64');
    expect(addressGroup('2001:0db8:0001:0002:0000:0000:0000:0009')).toBe('2001:db8:1:2::/64');
    expect(addressGroup('2001:db8::')).toBe('2001:db8:0:0::/64');
    expect(addressGroup('::1')).toBe('0:0:0:0::/64');
    expect(addressGroup('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(addressGroup('2001:db8:1:2::192.0.2.1')).toBe('2001:db8:1:2::/64');
  });

  it('counts an IPv4 address seen through a dual-stack socket as that IPv4 address', () => {
    expect(addressGroup('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(addressGroup('::ffff:c000:207')).toBe('192.0.2.7');
    expect(addressGroup('0:0:0:0:0:ffff:192.0.2.7')).toBe('192.0.2.7');
  });

  it('gives the same group to every spelling of addresses that share their first 64 bits, and another to any other', () => {
    fc.assert(
      fc.property(hextets, hextets, (a, b) => {
        const sameSite = [...a.slice(0, 4), ...b.slice(4)];
        fc.pre(![a, b, sameSite].some(isIPv4Mapped));
        expect(addressGroup(full(a))).toBe(prefixOf(a));
        expect(addressGroup(compressed(a))).toBe(prefixOf(a));
        expect(addressGroup(compressed(sameSite))).toBe(prefixOf(a));
        expect(addressGroup(compressed(b)) === prefixOf(a)).toBe(b.slice(0, 4).join() === a.slice(0, 4).join());
      }),
    );
  });

  it('never throws, whatever it is given', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.ipV4(), fc.ipV6(), fc.ipV4Extended()), (address) => {
        expect(typeof addressGroup(address)).toBe('string');
      }),
    );
  });
});
