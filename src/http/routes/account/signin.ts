import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { signIn } from '../../../auth/sessions/sign-in.js';
import { toPublicUser } from '../../../auth/users/users.js';
import { TokenAnswer, toTokenAnswer } from '../../../contracts/tokens.js';
import type { Deps } from '../../../deps.js';
import { withAliases } from '../../aliases.js';
import { clientOf, limitByAddress } from '../../client.js';
import { EmailField, errorResponses, PasswordField, SigninCodeField, UserRef } from '../../schemas.js';

const schema = {
  tags: ['auth'],
  summary: 'Sign in: open a session and get its tokens',
  body: Type.Object({ email: EmailField, password: PasswordField, code: Type.Optional(SigninCodeField) }),
  response: {
    200: Type.Object({ message: Type.String(), ...TokenAnswer.properties, user: UserRef }),
    ...errorResponses(400, 401, 403, 413, 415, 429, 503),
  },
};

export function signinRoute(deps: Deps): FastifyPluginAsyncTypebox {
  return async (app) => {
    for (const [url, aliasSchema] of withAliases('/api/signin', schema)) {
      app.post(url, { schema: aliasSchema, onRequest: limitByAddress(deps, 'signin') }, async (request) => {
        const { user, tokens } = await signIn(deps, request.body, clientOf(request));
        return { message: 'Sign-in successful', ...toTokenAnswer(tokens), user: toPublicUser(user) };
      });
    }
  };
}
