/** IPv4 CIDR arithmetic for laying subnets out inside the VPC's range. */

export interface Ipv4Cidr {
  /** The network address as an unsigned 32-bit number. */
  readonly base: number;
  readonly prefix: number;
}

export function parseIpv4Cidr(text: string): Ipv4Cidr | undefined {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(text.trim());
  if (!match) return undefined;
  const octets = match.slice(1, 5).map(Number);
  const prefix = Number(match[5]);
  if (octets.some((o) => o > 255) || prefix > 32) return undefined;
  const address = octets.reduce((acc, o) => acc * 256 + o, 0);
  const size = 2 ** (32 - prefix);
  // A range whose address has host bits set (10.0.0.1/16) is a typo more often than not.
  if (address % size !== 0) return undefined;
  return { base: address, prefix };
}

/** Like Terraform's cidrsubnet: the `netnum`-th range of `prefix + newBits` bits inside `cidr`. */
export function cidrSubnet(cidr: string, newBits: number, netnum: number): string {
  const parsed = parseIpv4Cidr(cidr);
  if (!parsed) throw new Error(`not an IPv4 CIDR range: ${cidr}`);
  const prefix = parsed.prefix + newBits;
  if (prefix > 32 || netnum < 0 || netnum >= 2 ** newBits) throw new Error(`${cidr} has no subnet ${netnum} of /${prefix}`);
  return `${formatIpv4(parsed.base + netnum * 2 ** (32 - prefix))}/${prefix}`;
}

function formatIpv4(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
}
