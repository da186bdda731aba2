import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { completeMfaSignIn, passkeyChallengeFor } from '../../../auth/mfa/second-step.js';
import { passkeySigninOptions, signInWithPasskey } from '../../../auth/mfa/passkeys.js';
import { toPublicUser } from '../../../auth/users/users.js';
import { PasskeyAssertion } from '../../../contracts/mfa.js';
import { TokenAnswer, toTokenAnswer } from '../../../contracts/tokens.js';
import type { Deps } from '../../../deps.js';
import { clientOf, limitByAddress } from '../../client.js';
import { asAssertion, errorResponses, oneSecondFactorOf, RequestOptions, SecondFactorFields, UserRef } from '../../schemas.js';

const MfaTokenField = Type.String({ minLength: 1, maxLength: 512, description: 'the `mfa_token` of the 403 mfa_required answer' });
const SigninAnswer = Type.Object({ message: Type.String(), ...TokenAnswer.properties, user: UserRef });

const mfaSchema = {
  tags: ['auth'],
  summary: "Sign in, second step: the mfa_token of a right password (403 mfa_required) with a code from the account's authenticator app, a recovery code, or a passkey",
  description:
    'Send one of `code`, `recovery_code` or `passkey` (an assertion answering the options of POST /api/signin/mfa/passkey-options). A wrong one is `401 invalid_mfa_code`; five end the token (`401 invalid_mfa_token`: sign in again), and RATE_LIMIT_MFA bounds the tries of the account.',
  body: Type.Object({ mfa_token: MfaTokenField, ...SecondFactorFields }),
  response: { 200: SigninAnswer, ...errorResponses(400, 401, 413, 415, 429, 503) },
};

/** Sign-in's second step, and sign-in with a passkey alone. */
export function signinMfaRoute(deps: Deps): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.post('/api/signin/mfa', { schema: mfaSchema, onRequest: limitByAddress(deps, 'signin') }, async (request) => {
      const factor = oneSecondFactorOf(request.body);
      const { user, tokens } = await completeMfaSignIn(deps, { mfaToken: request.body.mfa_token, ...factor }, clientOf(request));
      return { message: 'Sign-in successful', ...toTokenAnswer(tokens), user: toPublicUser(user) };
    });

    app.post(
      '/api/signin/mfa/passkey-options',
      {
        schema: {
          tags: ['auth'],
          summary: "Sign in, second step with a passkey: the request options for navigator.credentials.get(), listing the account's passkeys",
          description: 'The assertion goes to POST /api/signin/mfa as `passkey`, with the same `mfa_token`, within 5 minutes. `404 passkey_not_found` when the account has none.',
          body: Type.Object({ mfa_token: MfaTokenField }),
          response: { 200: RequestOptions, ...errorResponses(400, 401, 404, 413, 415, 429, 503) },
        },
        onRequest: limitByAddress(deps, 'passkey'),
      },
      async (request) => passkeyChallengeFor(deps, request.body.mfa_token),
    );

    app.post(
      '/api/signin/passkey/options',
      {
        schema: {
          tags: ['auth'],
          summary: 'Sign in with a passkey: the request options for navigator.credentials.get(), with a challenge_id',
          description: 'Any passkey of this site will do (discoverable credentials, user verification required). The challenge works once, within 5 minutes.',
          response: { 200: Type.Object({ challenge_id: Type.String(), ...RequestOptions.properties }, { additionalProperties: true }), ...errorResponses(400, 413, 415, 429, 503) },
        },
        config: { ignoresBody: true },
        onRequest: limitByAddress(deps, 'passkey'),
      },
      async () => passkeySigninOptions(deps),
    );

    app.post(
      '/api/signin/passkey',
      {
        schema: {
          tags: ['auth'],
          summary: 'Sign in with a passkey: the assertion answering the options of POST /api/signin/passkey/options',
          description:
            'No password: the passkey with user verification is two factors (`amr` `["hwk" or "swk", "user", "mfa"]`, `aal2`). Anything wrong (the challenge unknown, used, expired or of another ceremony; the origin, the RP ID, the signature, the flags, a counter gone back) is `401 invalid_passkey`.',
          body: Type.Object({ challenge_id: Type.String({ minLength: 1, maxLength: 512 }), response: PasskeyAssertion }),
          response: { 200: SigninAnswer, ...errorResponses(400, 401, 403, 413, 415, 429, 503) },
        },
        onRequest: limitByAddress(deps, 'passkey'),
      },
      async (request) => {
        const input = { challengeId: request.body.challenge_id, response: asAssertion(request.body.response) };
        const { user, tokens } = await signInWithPasskey(deps, input, clientOf(request));
        return { message: 'Sign-in successful', ...toTokenAnswer(tokens), user: toPublicUser(user) };
      },
    );
  };
}
