import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { accountOf, deleteOwnAccount, renameAccount } from '../../../auth/account/account.js';
import { getSessionUser, toPublicUser } from '../../../auth/users/users.js';
import type { Deps } from '../../../deps.js';
import { AppError } from '../../../errors.js';
import { authenticate, requireAuth } from '../../authenticate.js';
import { clientOf } from '../../client.js';
import { bearerAuth, errorResponses, MessageBody, NameField, PasswordField, PublicUserSchema, SecondFactorFields, secondFactorOf, UserRef } from '../../schemas.js';
import { mfaSummaryOf } from '../../../auth/mfa/factors.js';
import { MfaSummary } from '../../../contracts/mfa.js';

const tags = ['account'];
const UserAnswer = Type.Object({ user: UserRef });
// The signed-in user, and what their account has of second factors (never a secret).
const MeAnswer = Type.Object({ user: Type.Object({ ...PublicUserSchema.properties, mfa: MfaSummary }) });

/** The signed-in user's own account: read it, rename it, delete it. */
export function profileRoutes(deps: Deps): FastifyPluginAsyncTypebox {
  const preHandler = authenticate(deps);
  return async (app) => {
    app.get(
      '/api/me',
      { preHandler, schema: { tags, summary: 'The signed-in user, with their second factors', security: bearerAuth, response: { 200: MeAnswer, ...errorResponses(401, 503) } } },
      async (request) => {
        const caller = requireAuth(request);
        const user = await getSessionUser(deps, caller);
        if (!user) throw new AppError('invalid_token');
        return { user: { ...user, mfa: await mfaSummaryOf(deps, caller.userId) } };
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
          description: 'With a second factor, also `code` (or `recovery_code`): a missing or wrong one is `401 invalid_mfa_code`.',
          security: bearerAuth,
          body: Type.Object({ password: PasswordField, ...SecondFactorFields }),
          response: { 200: MessageBody, ...errorResponses(400, 401, 413, 415, 429, 503) },
        },
      },
      async (request) => {
        const user = await accountOf(deps, requireAuth(request).userId);
        await deleteOwnAccount(deps, user, { password: request.body.password, ...secondFactorOf(request.body) }, clientOf(request));
        return { message: 'Your account has been deleted.' };
      },
    );
  };
}
