import type { FastifyInstance, FastifyRequest } from 'fastify';
import { canonicalAddress, clientNetwork } from '../core/client-address.js';
import type { ClientInfo } from '../core/client-address.js';
import type { AddressAction } from '../auth/throttle/throttle.js';
import type { Deps } from '../deps.js';
import { negotiateLocale, type Locale } from '../i18n/locale.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The client's network as throttling counts it: its IPv4 address, or its IPv6 prefix (RATE_LIMIT_IPV6_PREFIX). */
    readonly network: string;
    /** The wide network it belongs to (RATE_LIMIT_NETWORK_IPV4_PREFIX, RATE_LIMIT_NETWORK_IPV6_PREFIX). */
    readonly wideNetwork: string;
  }
}

/** Gives every request its `network` and `wideNetwork`, from the address Fastify resolved (X-Forwarded-For only from TRUST_PROXY). */
export function decorateClientNetwork(
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- any server, logger and type provider
  app: FastifyInstance<any, any, any, any, any>,
  prefixes: { ipv6Prefix: number; wideNetwork: { ipv4Prefix: number; ipv6Prefix: number } },
) {
  app.decorateRequest('network', {
    getter(this: FastifyRequest) {
      return clientNetwork(this.ip, prefixes.ipv6Prefix);
    },
  });
  app.decorateRequest('wideNetwork', {
    getter(this: FastifyRequest) {
      return clientNetwork(this.ip, prefixes.wideNetwork.ipv6Prefix, prefixes.wideNetwork.ipv4Prefix);
    },
  });
}

/** Who is asking: the address, its networks and the user agent. */
export function clientOf(request: FastifyRequest): ClientInfo {
  return {
    ipAddress: canonicalAddress(request.ip),
    network: request.network,
    wideNetwork: request.wideNetwork,
    userAgent: request.headers['user-agent'],
  };
}

/** The language to answer the request in, and to write a new user's emails in: its `Accept-Language`'s choice. */
export const localeOf = (request: FastifyRequest): Locale => negotiateLocale(request.headers['accept-language']);

/** An onRequest hook that spends one unit of the client network's budget for the action, before any work. */
export function limitByAddress(deps: Deps, action: AddressAction) {
  return async (request: FastifyRequest) => {
    await deps.throttle.limitAddress(action, request.network);
  };
}
