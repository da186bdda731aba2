import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { aalRefusal, authenticateHeader, type AssuranceLevel, type AuthenticateOptions } from './http.js';
import type { LatchkeyClaims } from './verifier.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The verified token's claims; null when no token was sent and none is required. */
    latchkey: LatchkeyClaims | null;
  }
}

export type { AssuranceLevel, AuthenticateOptions as LatchkeyFastifyOptions } from './http.js';

/**
 * A hook (onRequest or preHandler) that verifies the bearer token: sets `request.latchkey`, or answers
 * 401 with Latchkey's error body and a WWW-Authenticate challenge (503 when the feed is stale).
 */
export function authenticate(options: AuthenticateOptions) {
  return async function latchkeyAuthenticate(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const result = await authenticateHeader(request.headers.authorization, options);
    if ('answer' in result) {
      const { status, headers, body } = result.answer;
      await reply.code(status).headers(headers).send(body);
      return reply as never;
    }
    request.latchkey = result.claims;
  };
}

/**
 * A hook for one route of a scope the plugin verifies: refuses a token signed in below `level` with 401
 * insufficient_user_authentication and the RFC 9470 challenge (`{ preHandler: requireAal('aal2') }`).
 */
export function requireAal(level: AssuranceLevel, realm = 'latchkey') {
  return async function latchkeyRequireAal(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const refusal = aalRefusal(request.latchkey, level, realm);
    if (!refusal) return;
    await reply.code(refusal.status).headers(refusal.headers).send(refusal.body);
    return reply as never;
  };
}

const plugin: FastifyPluginAsync<AuthenticateOptions> = async (app, options) => {
  if (!options?.verifier) throw new TypeError('@latchkey/verify/fastify needs { verifier }');
  if (!app.hasRequestDecorator('latchkey')) app.decorateRequest('latchkey', null);
  app.addHook('onRequest', authenticate(options));
};

/**
 * Verifies the bearer token of every request of the scope it is registered in (it is not encapsulated,
 * like a plugin wrapped by fastify-plugin): `app.register(latchkey, { verifier })`.
 */
export const latchkey = Object.assign(plugin, {
  [Symbol.for('skip-override')]: true,
  [Symbol.for('fastify.display-name')]: '@latchkey/verify',
});

export default latchkey;
