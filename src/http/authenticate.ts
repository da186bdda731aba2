import type { FastifyReply, FastifyRequest } from 'fastify';
import { verifyAccessToken, type AccessClaims } from '../auth/access-tokens.js';
import type { Deps } from '../deps.js';
import { AppError } from '../errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    auth: AccessClaims | null;
  }
}

/** The bearer token of the Authorization header; tokens in the query string are never read. */
export function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (!header) return undefined;
  const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

/** A preHandler that lets a request through only with a valid access token of a live session. */
export function authenticate(deps: Deps) {
  const policy = { issuer: deps.config.jwt.issuer, audience: deps.config.jwt.audience, maxLifetime: deps.config.ttl.accessToken };
  return async (request: FastifyRequest, _reply: FastifyReply) => {
    const token = bearerToken(request);
    if (!token) throw new AppError(request.headers.authorization ? 'invalid_token' : 'missing_token');
    request.auth = await verifyAccessToken(token, deps, policy);
  };
}

/** The claims of an authenticated request; only call behind `authenticate`. */
export function requireAuth(request: FastifyRequest): AccessClaims {
  if (!request.auth) throw new AppError('missing_token');
  return request.auth;
}
