import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import proxyAddr from '@fastify/proxy-addr';
import { clientNetwork } from '../core/client-address.js';

export interface ConnectionCapOptions {
  /** Open connections per client network; 0: no cap. */
  max: number;
  /** IPv6 clients are counted per this prefix (RATE_LIMIT_IPV6_PREFIX). */
  ipv6Prefix: number;
  /** TRUST_PROXY: a peer it trusts carries many clients' connections and is not capped. */
  trustProxy: boolean | readonly string[];
  /** Told of each connection closed for being over the cap, with the network it came from. */
  onRefused(network: string): void;
}

/**
 * At most `max` open connections per client address (an IPv4 address, or an IPv6 prefix), counted on the server's
 * `connection` event: one more is closed at once, before a byte is read, and each counted connection is counted
 * out when it closes, however it closes. So one client cannot hold every connection of MAX_CONNECTIONS.
 * Returns the number of connections counted per network, for tests.
 */
export function capConnectionsPerAddress(server: Server, opts: ConnectionCapOptions): ReadonlyMap<string, number> {
  const open = new Map<string, number>();
  if (opts.max <= 0) return open;
  const trusted = trustedPeer(opts.trustProxy);
  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress;
    // Gone already (reset before it was accepted), or a proxy that brings many clients.
    if (address === undefined || trusted(address)) return;
    const network = clientNetwork(address, opts.ipv6Prefix);
    const count = open.get(network) ?? 0;
    if (count >= opts.max) {
      socket.destroy();
      opts.onRefused(network);
      return;
    }
    open.set(network, count + 1);
    socket.once('close', () => {
      const left = (open.get(network) ?? 1) - 1;
      if (left > 0) open.set(network, left);
      else open.delete(network);
    });
  });
  return open;
}

/**
 * Whether TRUST_PROXY says a peer is a proxy: every peer for `true`, those in its list (addresses, ranges,
 * `loopback`...) as Fastify reads it, none for `false`.
 */
function trustedPeer(trustProxy: ConnectionCapOptions['trustProxy']): (address: string) => boolean {
  if (trustProxy === true) return () => true;
  if (trustProxy === false) return () => false;
  const trust = proxyAddr.compile([...trustProxy]);
  return (address) => trust(address, 0);
}
