import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { requestPasswordReset, resetPassword } from '../../auth/reset/password-reset.js';
import type { Deps } from '../../deps.js';
import { clientOf, limitByAddress } from '../client.js';
import { EmailField, errorResponses, MessageBody, PasswordField, TokenParam } from '../schemas.js';

const tags = ['password'];

export const FORGOT_PASSWORD_MESSAGE = 'If an account exists for this email, a password reset link has been sent to it.';

export function passwordResetRoutes(deps: Deps): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.post(
      '/api/forgot-password',
      {
        onRequest: limitByAddress(deps, 'forgot'),
        schema: {
          tags,
          summary: 'Email a password reset link (the answer is the same whether or not the account exists)',
          body: Type.Object({ email: EmailField }),
          response: { 200: MessageBody, ...errorResponses(400, 413, 415, 429, 503) },
        },
      },
      async (request) => {
        await requestPasswordReset(deps, request.body.email, clientOf(request));
        return { message: FORGOT_PASSWORD_MESSAGE };
      },
    );

    app.post(
      '/api/reset-password/:token',
      {
        onRequest: limitByAddress(deps, 'reset'),
        schema: {
          tags,
          summary: 'Set a new password with the token from the reset email; signs out every session',
          params: TokenParam,
          body: Type.Object({ password: PasswordField }),
          response: { 200: MessageBody, ...errorResponses(400, 413, 415, 422, 429, 503) },
        },
      },
      async (request) => {
        await resetPassword(deps, request.params.token, request.body.password, clientOf(request));
        return { message: 'Password reset successful' };
      },
    );
  };
}
