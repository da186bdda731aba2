import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type, type Static } from 'typebox';
import { inviteUser } from '../../../../auth/reset/operator.js';
import { createUserByOperator } from '../../../../auth/users/user-admin.js';
import { UserCreated } from '../../../../contracts/users.js';
import type { Deps } from '../../../../deps.js';
import { AppError, type ErrorDetail } from '../../../../errors.js';
import { forServiceClients, serviceActor } from '../../../hooks/service-client.js';
import { EmailField, errorResponses, NameField, PasswordField } from '../../../schemas.js';
import { tags } from './user-schemas.js';

const CreateBody = Type.Object({
  email: EmailField,
  name: NameField,
  // Under the sign-up policy; left out with `invite: true`.
  password: Type.Optional(PasswordField),
  admin: Type.Optional(Type.Boolean({ description: 'the role `admin` rather than `user`' })),
  verified: Type.Optional(Type.Boolean({ description: 'take the address as verified, on the operator\'s word (not with `invite`, whose link proves it)' })),
  invite: Type.Optional(
    Type.Boolean({ description: 'email the user an invitation: a link to choose their password (INVITATION_TTL), which proves the address when followed' }),
  ),
});
type CreateBody = Static<typeof CreateBody>;

const schema = {
  tags,
  summary: 'Create a user, with a password or with an invitation to choose one (scope admin)',
  description:
    'With `password`: the account as `latchkey users create` makes it, under the sign-up password policy, without its throttling. ' +
    'With `invite: true` and no password: the account has a password nobody knows until its owner follows the emailed link, which sets ' +
    'the password and verifies the address. `email_taken` (409) when the address has an account.',
  body: CreateBody,
  response: { 201: UserCreated, ...errorResponses(400, 401, 403, 409, 415, 422, 503) },
};

/** What the schema cannot say: a password or an invitation, one of the two. */
function creationProblems(body: CreateBody): ErrorDetail[] {
  if (body.invite && body.password !== undefined) return [{ field: 'password', message: 'goes without invite: true (the user chooses it)' }];
  if (body.invite && body.verified) return [{ field: 'verified', message: 'goes without invite: true (the invitation proves the address)' }];
  if (!body.invite && body.password === undefined) return [{ field: 'password', message: 'is required unless invite is true' }];
  return [];
}

export function createUserRoute(deps: Deps): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.post('/api/admin/users', { schema, config: forServiceClients('admin') }, async (request, reply) => {
      const problems = creationProblems(request.body);
      if (problems.length > 0) throw new AppError('invalid_request', `Invalid request: ${problems.map((d) => `${d.field} ${d.message}`).join('; ')}.`, problems);
      const { email, name, password, admin, verified } = request.body;
      const actor = serviceActor(request);
      const created =
        password === undefined
          ? await inviteUser(deps, { email, name, admin }, actor)
          : { user: await createUserByOperator(deps, { email, name, password, admin, verified }, actor), invited: false };
      return reply.code(201).send(created);
    });
  };
}
