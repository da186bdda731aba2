import { lookup as dnsLookup, type LookupAddress, type LookupAllOptions, type LookupOneOptions } from 'node:dns';
import ipaddr from 'ipaddr.js';

/**
 * Where webhooks may not be posted (WEBHOOK_DENY_NETWORKS): by default the addresses no receiver lives at
 * and that a request should never reach, above all the cloud metadata services, which hand out the
 * instance's credentials. An operator who registers a URL, or whoever holds an `admin` service client,
 * could otherwise make Latchkey post to them, and read in the delivery list whether something answered.
 */
export type DeniedNetworks = readonly (readonly [ipaddr.IPv4 | ipaddr.IPv6, number])[];

/** Parses `a.b.c.d/n`, `x::y/n`, or a bare address (its own /32 or /128); throws on anything else. */
export function parseNetworks(entries: readonly string[]): DeniedNetworks {
  return entries.map((entry) => {
    if (entry.includes('/')) return ipaddr.parseCIDR(entry);
    const address = ipaddr.parse(entry);
    return [address, address.kind() === 'ipv4' ? 32 : 128] as const;
  });
}

/**
 * The denied network `address` is in, as written in the setting, or undefined. IPv4-mapped IPv6 counts as
 * IPv4, and so does every other IPv6 form that carries an IPv4 address a packet may end up at: an address
 * is denied when the IPv4 inside it is.
 */
export function deniedNetworkOf(address: string, denied: DeniedNetworks): string | undefined {
  if (!ipaddr.isValid(address)) return undefined;
  const ip = ipaddr.process(address);
  const own = networkOf(ip, denied);
  if (own || ip.kind() !== 'ipv6') return own;
  for (const inner of embeddedIPv4(ip as ipaddr.IPv6)) {
    const network = networkOf(inner, denied);
    if (network) return `${network}, as ${inner.toString()}`;
  }
  return undefined;
}

function networkOf(ip: ipaddr.IPv4 | ipaddr.IPv6, denied: DeniedNetworks): string | undefined {
  for (const [network, bits] of denied) {
    if (network.kind() === ip.kind() && ip.match(network, bits)) return `${network.toString()}/${bits}`;
  }
  return undefined;
}

const ipv4Of = (high: number, low: number) => ipaddr.fromByteArray([high >> 8, high & 0xff, low >> 8, low & 0xff]) as ipaddr.IPv4;

/**
 * The IPv4 addresses an IPv6 address carries (IPv4-mapped ones are already IPv4 here): IPv4-compatible
 * `::a.b.c.d`, NAT64 `64:ff9b::/96` and the local-use `64:ff9b:1::/48` (RFC 6052, 8215), 6to4 `2002::/16`,
 * and Teredo `2001::/32` (its server, and its client stored inverted).
 */
function embeddedIPv4(ip: ipaddr.IPv6): ipaddr.IPv4[] {
  const p = ip.parts as number[];
  const zeros = (from: number, to: number) => p.slice(from, to).every((part) => part === 0);
  // `::` and `::1` are IPv6's own unspecified and loopback addresses, not 0.0.0.0 and 0.0.0.1.
  if (zeros(0, 6) && p[6]! >= 0x0100) return [ipv4Of(p[6]!, p[7]!)];
  if (p[0] === 0x64 && p[1] === 0xff9b && (zeros(2, 6) || p[2] === 1)) return [ipv4Of(p[6]!, p[7]!)];
  if (p[0] === 0x2002) return [ipv4Of(p[1]!, p[2]!)];
  if (p[0] === 0x2001 && p[1] === 0) return [ipv4Of(p[2]!, p[3]!), ipv4Of(~p[6]! & 0xffff, ~p[7]! & 0xffff)];
  return [];
}

/** A URL's host when it is an IP literal (brackets removed), else undefined. */
function literalAddress(url: URL): string | undefined {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  return ipaddr.isValid(host) ? host : undefined;
}

/** Why a URL whose host is an IP literal in a denied network may not be posted to (a literal is never looked up, so guardedLookup does not see it), or undefined. */
export function deniedLiteral(url: URL, denied: DeniedNetworks): DeniedDestinationError | undefined {
  const literal = literalAddress(url);
  const network = literal === undefined ? undefined : deniedNetworkOf(literal, denied);
  return literal !== undefined && network !== undefined ? new DeniedDestinationError(literal, literal, network) : undefined;
}

export class DeniedDestinationError extends Error {
  readonly code = 'EDENIEDDESTINATION';
  constructor(host: string, address: string, network: string) {
    super(host === address ? `${address} is in WEBHOOK_DENY_NETWORKS (${network})` : `${host} resolves to ${address}, in WEBHOOK_DENY_NETWORKS (${network})`);
    this.name = 'DeniedDestinationError';
  }
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `lookup` for sockets (net.connect's option) that resolves as usual, then refuses the connection when any
 * address of the host is denied, so that a name cannot be pointed at a denied address between the check and
 * the connection (DNS rebinding): the addresses checked are the ones connected to.
 */
export function guardedLookup(denied: DeniedNetworks) {
  return (hostname: string, options: LookupOneOptions | LookupAllOptions, callback: LookupCallback): void => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, []);
      for (const { address } of addresses) {
        const network = deniedNetworkOf(address, denied);
        if (network) return callback(new DeniedDestinationError(hostname, address, network), []);
      }
      if (options.all) return callback(null, addresses);
      const [first] = addresses;
      if (!first) return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), []);
      return callback(null, first.address, first.family);
    });
  };
}
