import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { accountOf, changePassword } from '../../../auth/account/account.js';
import { EMAIL_CHANGE_MESSAGE, requestEmailChange } from '../../../auth/account/email-change.js';
import { TokenAnswer, toTokenAnswer } from '../../../contracts/tokens.js';
import type { Deps } from '../../../deps.js';
import { authenticate, requireAuth } from '../../authenticate.js';
import { clientOf } from '../../client.js';
import { bearerAuth, EmailField, errorResponses, MessageBody, PasswordField, SecondFactorFields, secondFactorOf } from '../../schemas.js';

const tags = ['account'];


/** What proves the signed-in user: the password and the address. Both changes take the current password. */
export function credentialRoutes(deps: Deps): FastifyPluginAsyncTypebox {
  const preHandler = authenticate(deps);
  return async (app) => {
    app.post(
      '/api/me/password',
      {
        preHandler,
        schema: {
          tags,
          summary: 'Change the password: every session opened before ends, this one included; the answer holds the tokens of a new one',
          description:
            'A wrong `current_password` is `401 invalid_credentials` and counts as a failed sign-in (the lockout applies); the new password is checked as at sign-up.',
          security: bearerAuth,
          body: Type.Object({ current_password: PasswordField, new_password: PasswordField, ...SecondFactorFields }),
          response: { 200: Type.Object({ message: Type.String(), ...TokenAnswer.properties }), ...errorResponses(400, 401, 403, 413, 415, 422, 429, 503) },
        },
      },
      async (request) => {
        const user = await accountOf(deps, requireAuth(request).userId);
        const { current_password: currentPassword, new_password: newPassword } = request.body;
        const tokens = await changePassword(deps, user, { currentPassword, newPassword, ...secondFactorOf(request.body) }, clientOf(request));
        return { message: 'Password changed. Every other session was signed out.', ...toTokenAnswer(tokens) };
      },
    );

    app.post(
      '/api/me/email',
      {
        preHandler,
        schema: {
          tags,
          summary: 'Ask to change the email address: the new address confirms with an emailed link, the old one gets a notice that can undo it',
          description: 'The answer is the same whether or not the new address belongs to another account.',
          security: bearerAuth,
          body: Type.Object({ email: EmailField, password: PasswordField, ...SecondFactorFields }),
          response: { 202: MessageBody, ...errorResponses(400, 401, 413, 415, 429, 503) },
        },
      },
      async (request, reply) => {
        const user = await accountOf(deps, requireAuth(request).userId);
        const { email, password } = request.body;
        await requestEmailChange(deps, user, { email, password, ...secondFactorOf(request.body) }, clientOf(request));
        return reply.code(202).send({ message: EMAIL_CHANGE_MESSAGE });
      },
    );
  };
}
