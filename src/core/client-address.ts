import ipaddr from 'ipaddr.js';

/** What every client whose address is not an IP address is counted as: one bucket for all of them. */
export const NOT_AN_ADDRESS = 'not-an-address';

/**
 * An address as it is stored: IPv4-mapped IPv6 (`::ffff:192.0.2.1`) as plain IPv4, IPv6 compressed;
 * undefined for anything else (a trusted proxy's X-Forwarded-For can carry any text).
 */
export function canonicalAddress(ip: string): string | undefined {
  return ipaddr.isValid(ip) ? ipaddr.process(ip).toString() : undefined;
}

/**
 * The network a client is counted as, in CIDR form: one IPv4 address (`/32`), or the IPv6 prefix its
 * holder is usually given (`/64` by default), since one IPv6 client can switch among billions of addresses.
 * With `ipv4Prefix`, IPv4 addresses are grouped too (a wide network: a /24 and a /48).
 */
export function clientNetwork(ip: string, ipv6Prefix: number, ipv4Prefix = 32): string {
  // Never the text itself: `0.0.0.0/0` would be a network containing every address.
  if (!ipaddr.isValid(ip)) return NOT_AN_ADDRESS;
  const address = ipaddr.process(ip);
  const [kind, prefix] = address.kind() === 'ipv4' ? [ipaddr.IPv4, ipv4Prefix] : [ipaddr.IPv6, ipv6Prefix];
  return `${kind.networkAddressFromCIDR(`${address.toString()}/${prefix}`).toString()}/${prefix}`;
}

/** Whether an address lies in a network made by `clientNetwork`; false for anything that does not parse. */
export function isInNetwork(ip: string, network: string): boolean {
  if (!ipaddr.isValid(ip)) return false;
  try {
    const range = ipaddr.parseCIDR(network);
    const address = ipaddr.process(ip);
    return address.kind() === range[0].kind() && address.match(range);
  } catch {
    return false;
  }
}

/** Who made a request, as the audit log and the throttle see it. */
export interface ClientInfo {
  /** Canonical form (IPv4-mapped IPv6 as IPv4). */
  ipAddress?: string | undefined;
  /** The network the client is counted as (`clientNetwork`): its IPv4 address, or its IPv6 /64. */
  network?: string | undefined;
  /** The wide network it belongs to (an IPv4 /24, an IPv6 /48), whose share of the global budgets it spends. */
  wideNetwork?: string | undefined;
  userAgent?: string | undefined;
}
