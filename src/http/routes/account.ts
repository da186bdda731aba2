import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { endSession, rotateRefreshToken } from '../../auth/sessions/sessions.js';
import { signIn } from '../../auth/sessions/sign-in.js';
import { createUser, getPublicUser, toPublicUser } from '../../auth/users/users.js';
import type { Deps } from '../../deps.js';
import { AppError } from '../../errors.js';
import { withAliases } from '../aliases.js';
import { authenticate, bearerToken, requireAuth } from '../authenticate.js';
import { clientOf, limitByAddress, limitGlobally } from '../client.js';
import { bearerAuth, EmailField, errorResponses, MessageBody, NameField, PasswordField, TokenFields } from '../schemas.js';

const tags = ['auth'];
const User = Type.Ref('User');

export function accountRoutes(deps: Deps): FastifyPluginAsyncTypebox {
  return async (app) => {
    const requireToken = authenticate(deps);

    const signupSchema = {
      tags,
      summary: 'Create an account',
      body: Type.Object({
        name: NameField,
        email: EmailField,
        password: PasswordField,
      }),
      response: { 201: Type.Object({ message: Type.String(), user: User }), ...errorResponses(400, 409, 413, 415, 422, 429, 503) },
    };
    for (const [url, schema] of withAliases('/api/signup', signupSchema)) {
      app.post(url, { schema, onRequest: [limitByAddress(deps, 'signup'), limitGlobally(deps, 'signup')] }, async (request, reply) => {
        const user = await createUser(deps, request.body, clientOf(request));
        return reply.code(201).send({ message: 'User created successfully', user: toPublicUser(user) });
      });
    }

    const signinSchema = {
      tags,
      summary: 'Sign in: open a session and get its tokens',
      body: Type.Object({ email: EmailField, password: PasswordField }),
      response: {
        200: Type.Object({ message: Type.String(), ...TokenFields, user: User }),
        ...errorResponses(400, 401, 403, 413, 415, 429, 503),
      },
    };
    for (const [url, schema] of withAliases('/api/signin', signinSchema)) {
      app.post(url, { schema, onRequest: [limitByAddress(deps, 'signin'), limitGlobally(deps, 'signin')] }, async (request) => {
        const { user, tokens } = await signIn(deps, request.body, clientOf(request));
        return {
          message: 'Sign-in successful',
          access_token: tokens.accessToken,
          refresh_token: tokens.refreshToken,
          token_type: 'Bearer' as const,
          expires_in: tokens.expiresIn,
          user: toPublicUser(user),
        };
      });
    }

    app.post(
      '/api/refresh',
      {
        config: { ignoresBody: true },
        onRequest: limitByAddress(deps, 'refresh'),
        // A bare POST with the token in the header has no body at all; validate it as an empty object.
        preValidation: async (request) => {
          request.body ??= {};
        },
        schema: {
          tags,
          summary: 'Exchange a refresh token for a new pair (the refresh token is rotated)',
          description:
            'Send the refresh token as `Authorization: Bearer <refresh_token>` (no body needed) or as `{"refresh_token": ...}` in the body. ' +
            'Each refresh rotates the token. Within REFRESH_REUSE_INTERVAL of its rotation, a token whose successor is unused ' +
            '(a retry) gets that same successor; any other reuse revokes the whole session.',
          security: [{ refreshToken: [] }, {}],
          'x-body-optional': true,
          body: Type.Object({ refresh_token: Type.Optional(Type.String({ maxLength: 512 })) }),
          response: { 200: Type.Object({ message: Type.String(), ...TokenFields }), ...errorResponses(400, 401, 413, 429, 503) },
        },
      },
      async (request) => {
        const token = bearerToken(request) ?? request.body.refresh_token;
        if (!token) throw new AppError('missing_refresh_token');
        const tokens = await rotateRefreshToken(deps, token, clientOf(request));
        return {
          message: 'Token refreshed successfully',
          access_token: tokens.accessToken,
          refresh_token: tokens.refreshToken,
          token_type: 'Bearer' as const,
          expires_in: tokens.expiresIn,
        };
      },
    );

    const logoutSchema = {
      tags,
      summary: 'End this session: its refresh token and all its access tokens stop working at once',
      security: bearerAuth,
      response: { 200: MessageBody, ...errorResponses(401, 503) },
    };
    for (const [url, schema] of withAliases('/api/logout', logoutSchema)) {
      app.post(url, { schema, config: { ignoresBody: true }, preHandler: requireToken }, async (request) => {
        await endSession(deps, requireAuth(request), clientOf(request));
        return { message: 'Logout successful. Tokens revoked.' };
      });
    }

    const dashboardSchema = {
      tags,
      summary: 'A protected route: who the access token belongs to',
      security: bearerAuth,
      response: { 200: Type.Object({ message: Type.String(), user: User }), ...errorResponses(401, 503) },
    };
    for (const [url, schema] of withAliases('/api/dashboard', dashboardSchema)) {
      app.get(url, { schema, preHandler: requireToken }, async (request) => {
        const user = await getPublicUser(deps, requireAuth(request).userId);
        if (!user) throw new AppError('invalid_token');
        return { message: `Welcome ${user.name}!`, user };
      });
    }
  };
}
