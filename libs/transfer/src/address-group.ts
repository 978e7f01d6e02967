import { isIPv6 } from 'node:net';

/**
 * The key a peer's address is counted under by the per-address caps (connections, unchecked memory,
 * failed authentications): the address itself for IPv4, and its /64 for IPv6, written
 * `2001:db8:0:1::/64`. One host or one site is given a whole /64 and may pick any address in it, so
 * capping single IPv6 addresses would cap nothing. An IPv4 address seen through a dual-stack socket
 * (`::ffff:192.0.2.1`) counts as that IPv4 address; anything else (`unknown`) is returned unchanged.
 */
export function addressGroup(address: string): string {
  const withoutZone = address.replace(/%.*$/, ''); // fe80::1%eth0: the zone names an interface, not a host
  if (!isIPv6(withoutZone)) return address;
  const hextets = expandIPv6(withoutZone);
  if (hextets.slice(0, 5).every((h) => h === 0) && hextets[5] === 0xffff) {
    return [hextets[6] >> 8, hextets[6] & 0xff, hextets[7] >> 8, hextets[7] & 0xff].join('.');
  }
  return `${hextets.slice(0, 4).map((h) => h.toString(16)).join(':')}::/64`;
}

/** The eight 16-bit groups of an address `isIPv6` accepted (`::` expanded, a trailing IPv4 split in two). */
function expandIPv6(address: string): number[] {
  const [head, tail] = address.includes('::') ? address.split('::') : [address, undefined];
  const groupsOf = (part: string | undefined): number[] =>
    !part
      ? []
      : part.split(':').flatMap((group) => {
          if (!group.includes('.')) return [parseInt(group, 16)];
          const [a, b, c, d] = group.split('.').map(Number);
          return [(a << 8) | b, (c << 8) | d];
        });
  const front = groupsOf(head);
  const back = groupsOf(tail);
  return [...front, ...new Array<number>(8 - front.length - back.length).fill(0), ...back];
}
