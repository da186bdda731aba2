import type { FastifyReply, FastifyRequest } from 'fastify';
import { verifyAccessToken, type AccessClaims } from '../auth/sessions/access-tokens.js';
import type { Deps } from '../deps.js';
import { enrollingUser } from '../auth/mfa/enrolment.js';
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
    try {
      const token = bearerToken(request);
      if (!token) throw new AppError(request.headers.authorization ? 'invalid_token' : 'missing_token');
      request.auth = await verifyAccessToken(token, deps, policy);
    } catch (err) {
      if (err instanceof AppError && err.status === 401) err.headers = { ...err.headers, 'www-authenticate': bearerChallenge(err) };
      throw err;
    }
  };
}

/**
 * RFC 6750's challenge on a refused access token, as @latchkey/verify answers it: a service behind the SDK
 * and Latchkey itself tell a client the same thing.
 */
function bearerChallenge(err: AppError): string {
  if (err.code === 'missing_token') return 'Bearer realm="latchkey"';
  return `Bearer realm="latchkey", error="invalid_token", error_description="${err.message.replace(/["\\]/g, '')}"`;
}

/**
 * A preHandler for the routes that enrol a second factor: an access token as `authenticate` takes it, or the
 * `enrollment_token` of a user whose role must have a factor (REQUIRE_MFA_FOR_ROLES), which no other route takes.
 * With the latter, `request.auth` has the user and no session (`sessionId` empty).
 */
export function authenticateForEnrolment(deps: Deps) {
  const withAccessToken = authenticate(deps);
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const token = bearerToken(request);
    // An access token is a JWT (three parts); an enrollment token is one opaque part.
    const userId = token && !token.includes('.') ? await enrollingUser(deps, token) : undefined;
    if (userId === undefined) return withAccessToken(request, reply);
    request.auth = { userId, sessionId: '', authTime: 0, expiresAt: 0, keyId: '' };
  };
}

/** The claims of an authenticated request; only call behind `authenticate`. */
export function requireAuth(request: FastifyRequest): AccessClaims {
  if (!request.auth) throw new AppError('missing_token');
  return request.auth;
}
