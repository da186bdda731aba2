import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { exchangeUpstreamCode } from '../../../auth/upstream/upstream-signin.js';
import { toPublicUser } from '../../../auth/users/users.js';
import { TokenAnswer, toTokenAnswer } from '../../../contracts/tokens.js';
import type { Deps } from '../../../deps.js';
import { clientOf, limitByAddress } from '../../client.js';
import { errorResponses, UserRef } from '../../schemas.js';

const schema = {
  tags: ['auth'],
  summary: "Sign in through an upstream provider, for an app: exchange the code its redirect_to got for the session's tokens",
  description:
    'An app starts with `GET /api/signin/<provider>?redirect_to=…&code_challenge=…` (PKCE S256, its `redirect_to` on an origin of ALLOWED_REDIRECT_URLS) in a browser; after the provider, the browser lands on `redirect_to` with `code` (single use, 2 minutes) or `error`. The app sends here that code and its `code_verifier`. The answer is a sign-in\'s: the tokens, or `403 mfa_required` (then POST /api/signin/mfa), `mfa_enrollment_required`, `account_disabled`.',
  params: Type.Object({ provider: Type.String({ maxLength: 64 }) }),
  body: Type.Object({
    code: Type.String({ minLength: 1, maxLength: 512, description: 'the `code` redirect_to received' }),
    code_verifier: Type.String({ minLength: 43, maxLength: 128, pattern: '^[A-Za-z0-9._~-]+$', description: "the app's PKCE verifier, whose S256 was its code_challenge" }),
  }),
  response: {
    200: Type.Object({ message: Type.String(), ...TokenAnswer.properties, user: UserRef }),
    ...errorResponses(400, 403, 413, 415, 429, 503),
  },
};

export function signinUpstreamRoute(deps: Deps): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.post('/api/signin/:provider/exchange', { schema, onRequest: limitByAddress(deps, 'signin') }, async (request) => {
      const { code, code_verifier: codeVerifier } = request.body;
      const { user, tokens } = await exchangeUpstreamCode(deps, request.params.provider, { code, codeVerifier }, clientOf(request));
      return { message: 'Sign-in successful', ...toTokenAnswer(tokens), user: toPublicUser(user) };
    });
  };
}
