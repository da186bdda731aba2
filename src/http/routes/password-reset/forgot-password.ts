import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { requestPasswordReset } from '../../../auth/reset/password-reset.js';
import type { Deps } from '../../../deps.js';
import { clientOf, limitByAddress } from '../../client.js';
import { EmailField, errorResponses, MessageBody } from '../../schemas.js';

export const FORGOT_PASSWORD_MESSAGE = 'If an account exists for this email, a password reset link has been sent to it.';

const schema = {
  tags: ['password'],
  summary: 'Email a password reset link (the answer is the same whether or not the account exists)',
  body: Type.Object({ email: EmailField }),
  response: { 200: MessageBody, ...errorResponses(400, 413, 415, 429, 503) },
};

export function forgotPasswordRoute(deps: Deps): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.post('/api/forgot-password', { schema, onRequest: limitByAddress(deps, 'forgot') }, async (request) => {
      await requestPasswordReset(deps, request.body.email, clientOf(request));
      return { message: FORGOT_PASSWORD_MESSAGE };
    });
  };
}
