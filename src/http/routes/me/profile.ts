import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { accountOf, deleteOwnAccount, renameAccount } from '../../../auth/account/account.js';
import { getSessionUser, toPublicUser } from '../../../auth/users/users.js';
import type { Deps } from '../../../deps.js';
import { AppError } from '../../../errors.js';
import { authenticate, requireAuth } from '../../authenticate.js';
import { clientOf } from '../../client.js';
import { bearerAuth, errorResponses, MessageBody, NameField, PasswordField, UserRef } from '../../schemas.js';

const tags = ['account'];
const UserAnswer = Type.Object({ user: UserRef });

/** The signed-in user's own account: read it, rename it, delete it. */
export function profileRoutes(deps: Deps): FastifyPluginAsyncTypebox {
  const preHandler = authenticate(deps);
  return async (app) => {
    app.get(
      '/api/me',
      { preHandler, schema: { tags, summary: 'The signed-in user', security: bearerAuth, response: { 200: UserAnswer, ...errorResponses(401, 503) } } },
      async (request) => {
        const user = await getSessionUser(deps, requireAuth(request));
        if (!user) throw new AppError('invalid_token');
        return { user };
      },
    );

    app.patch(
      '/api/me',
      {
        preHandler,
        schema: {
          tags,
          summary: 'Change the signed-in user\'s name',
          security: bearerAuth,
          body: Type.Object({ name: NameField }),
          response: { 200: UserAnswer, ...errorResponses(400, 401, 413, 415, 503) },
        },
      },
      async (request) => {
        const user = await renameAccount(deps, requireAuth(request).userId, request.body.name, clientOf(request));
        return { user: toPublicUser(user) };
      },
    );

    app.delete(
      '/api/me',
      {
        preHandler,
        schema: {
          tags,
          summary: 'Delete the signed-in user\'s account, with its password: every session ends, then the account and all it holds are deleted',
          security: bearerAuth,
          body: Type.Object({ password: PasswordField }),
          response: { 200: MessageBody, ...errorResponses(400, 401, 413, 415, 429, 503) },
        },
      },
      async (request) => {
        const user = await accountOf(deps, requireAuth(request).userId);
        await deleteOwnAccount(deps, user, request.body.password, clientOf(request));
        return { message: 'Your account has been deleted.' };
      },
    );
  };
}
