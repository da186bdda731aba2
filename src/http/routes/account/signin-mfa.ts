import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { completeMfaSignIn } from '../../../auth/mfa/second-step.js';
import { toPublicUser } from '../../../auth/users/users.js';
import { TokenAnswer, toTokenAnswer } from '../../../contracts/tokens.js';
import type { Deps } from '../../../deps.js';
import { AppError } from '../../../errors.js';
import { clientOf, limitByAddress } from '../../client.js';
import { errorResponses, SecondFactorFields, secondFactorOf, UserRef } from '../../schemas.js';

const schema = {
  tags: ['auth'],
  summary: "Sign in, second step: the mfa_token of a right password (403 mfa_required) with a code from the account's authenticator app, or a recovery code",
  description:
    'Send `code` or `recovery_code`, one of them. A wrong code is `401 invalid_mfa_code`; five end the token (`401 invalid_mfa_token`: sign in again), and RATE_LIMIT_MFA bounds the tries of the account.',
  body: Type.Object({
    mfa_token: Type.String({ minLength: 1, maxLength: 512, description: 'the `mfa_token` of the 403 mfa_required answer' }),
    ...SecondFactorFields,
  }),
  response: {
    200: Type.Object({ message: Type.String(), ...TokenAnswer.properties, user: UserRef }),
    ...errorResponses(400, 401, 413, 415, 429, 503),
  },
};

export function signinMfaRoute(deps: Deps): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.post('/api/signin/mfa', { schema, onRequest: limitByAddress(deps, 'signin') }, async (request) => {
      const factor = secondFactorOf(request.body);
      if ((factor.code === undefined) === (factor.recoveryCode === undefined)) throw new AppError('invalid_request', 'Send either code or recovery_code.');
      const { user, tokens } = await completeMfaSignIn(deps, { mfaToken: request.body.mfa_token, ...factor }, clientOf(request));
      return { message: 'Sign-in successful', ...toTokenAnswer(tokens), user: toPublicUser(user) };
    });
  };
}
