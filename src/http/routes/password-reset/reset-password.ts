import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { resetPassword } from '../../../auth/reset/password-reset.js';
import type { Deps } from '../../../deps.js';
import { clientOf, limitByAddress } from '../../client.js';
import { errorResponses, MessageBody, PasswordField, TokenParam } from '../../schemas.js';

const schema = {
  tags: ['password'],
  summary: 'Set a new password with the token from the reset email; signs out every session',
  params: TokenParam,
  body: Type.Object({ password: PasswordField }),
  response: { 200: MessageBody, ...errorResponses(400, 413, 415, 422, 429, 503) },
};

export function resetPasswordRoute(deps: Deps): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.post('/api/reset-password/:token', { schema, onRequest: limitByAddress(deps, 'reset') }, async (request) => {
      await resetPassword(deps, request.params.token, request.body.password, clientOf(request));
      return { message: 'Password reset successful' };
    });
  };
}
