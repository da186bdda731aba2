import type { FastifyRequest } from 'fastify';
import type { ClientInfo } from '../auth/sessions.js';
import type { AddressAction } from '../auth/throttle.js';
import type { Deps } from '../deps.js';

/** Who is asking: the address Fastify resolved (X-Forwarded-For only from TRUST_PROXY) and the user agent. */
export function clientOf(request: FastifyRequest): ClientInfo {
  return { ipAddress: request.ip, userAgent: request.headers['user-agent'] };
}

/** An onRequest hook that spends one unit of the client address's budget for the action, before any work. */
export function limitByAddress(deps: Deps, action: AddressAction) {
  return async (request: FastifyRequest) => {
    await deps.throttle.limitAddress(action, request.ip);
  };
}
