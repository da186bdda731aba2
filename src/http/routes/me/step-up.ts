import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { accountOf } from '../../../auth/account/account.js';
import { passkeyAssertionOptions } from '../../../auth/mfa/passkeys.js';
import { stepUp } from '../../../auth/mfa/step-up.js';
import { assuranceLevel } from '../../../auth/sessions/access-tokens.js';
import type { Deps } from '../../../deps.js';
import { authenticate, requireAuth } from '../../authenticate.js';
import { clientOf } from '../../client.js';
import { bearerAuth, errorResponses, oneSecondFactorOf, RequestOptions, SecondFactorFields } from '../../schemas.js';

const tags = ['mfa'];

/** A signed-in user proving a second factor again: a passkey's challenge for it, and the step-up of a session to aal2. */
export function stepUpRoutes(deps: Deps): FastifyPluginAsyncTypebox {
  const preHandler = authenticate(deps);
  return async (app) => {
    app.post(
      '/api/me/mfa/passkey-options',
      {
        preHandler,
        schema: {
          tags,
          summary: "Request options for confirming who you are with one of your passkeys (a sensitive change, a step-up): its assertion goes in the change's body as `passkey`",
          security: bearerAuth,
          response: { 200: RequestOptions, ...errorResponses(400, 401, 404, 413, 415, 429, 503) },
        },
        config: { ignoresBody: true },
      },
      async (request) => passkeyAssertionOptions(deps, requireAuth(request).userId, 'confirm'),
    );

    app.post(
      '/api/me/mfa/step-up',
      {
        preHandler,
        schema: {
          tags,
          summary: "Step up this session to aal2 with a second factor (a code, a recovery code or a passkey): a fresh access token, and the session's later ones, carry it",
          description:
            "For a service that answered `401 insufficient_user_authentication`. The refresh token stays the same. A wrong factor is `401 invalid_mfa_code`; an account without a factor is `409 mfa_not_enrolled`.",
          security: bearerAuth,
          body: Type.Object(SecondFactorFields),
          response: {
            200: Type.Object({
              access_token: Type.String(),
              token_type: Type.Literal('Bearer'),
              expires_in: Type.Integer(),
              amr: Type.Array(Type.String()),
              aal: Type.String(),
            }),
            ...errorResponses(400, 401, 409, 413, 415, 429, 503),
          },
        },
      },
      async (request) => {
        const claims = requireAuth(request);
        const factor = oneSecondFactorOf(request.body);
        const user = await accountOf(deps, claims.userId);
        const raised = await stepUp(deps, user, claims.sessionId, factor, clientOf(request));
        return { access_token: raised.accessToken, token_type: 'Bearer' as const, expires_in: raised.expiresIn, amr: [...raised.amr], aal: assuranceLevel(raised.amr) };
      },
    );
  };
}
