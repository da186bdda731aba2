import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { signUp } from '../../../auth/account/sign-up.js';
import { toPublicUser } from '../../../auth/users/users.js';
import type { Deps } from '../../../deps.js';
import { withAliases } from '../../aliases.js';
import { clientOf, limitByAddress, localeOf } from '../../client.js';
import { EmailField, errorResponses, NameField, PasswordField, UserRef } from '../../schemas.js';

const schema = {
  tags: ['auth'],
  summary: 'Create an account',
  body: Type.Object({ name: NameField, email: EmailField, password: PasswordField }),
  response: { 201: Type.Object({ message: Type.String(), user: UserRef }), ...errorResponses(400, 409, 413, 415, 422, 429, 503) },
};

export function signupRoute(deps: Deps): FastifyPluginAsyncTypebox {
  return async (app) => {
    for (const [url, aliasSchema] of withAliases('/api/signup', schema)) {
      app.post(url, { schema: aliasSchema, onRequest: limitByAddress(deps, 'signup') }, async (request, reply) => {
        const user = await signUp(deps, { ...request.body, locale: localeOf(request) }, clientOf(request));
        return reply.code(201).send({ message: 'User created successfully', user: toPublicUser(user) });
      });
    }
  };
}
