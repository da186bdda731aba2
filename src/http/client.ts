import type { FastifyInstance, FastifyRequest } from 'fastify';
import { canonicalAddress, clientNetwork } from '../core/client-address.js';
import type { ClientInfo } from '../core/client-address.js';
import type { AddressAction } from '../auth/throttle/throttle.js';
import type { Deps } from '../deps.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The client's network as throttling counts it: its IPv4 address, or its IPv6 prefix (RATE_LIMIT_IPV6_PREFIX). */
    readonly network: string;
  }
}

/** Gives every request its `network`, from the address Fastify resolved (X-Forwarded-For only from TRUST_PROXY). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any server, logger and type provider
export function decorateClientNetwork(app: FastifyInstance<any, any, any, any, any>, ipv6Prefix: number) {
  app.decorateRequest('network', {
    getter(this: FastifyRequest) {
      return clientNetwork(this.ip, ipv6Prefix);
    },
  });
}

/** Who is asking: the address, its network and the user agent. */
export function clientOf(request: FastifyRequest): ClientInfo {
  return { ipAddress: canonicalAddress(request.ip), network: request.network, userAgent: request.headers['user-agent'] };
}

/** An onRequest hook that spends one unit of everyone's budget for the action (503 server_busy past it). */
export function limitGlobally(deps: Deps, action: 'signin' | 'signup') {
  return async () => {
    await deps.throttle.limitGlobal(action);
  };
}

/** An onRequest hook that spends one unit of the client network's budget for the action, before any work. */
export function limitByAddress(deps: Deps, action: AddressAction) {
  return async (request: FastifyRequest) => {
    await deps.throttle.limitAddress(action, request.network);
  };
}
