import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { accountOf } from '../../../auth/account/account.js';
import { listPasskeys, passkeyCreationOptions, registerPasskey, removeOwnPasskey, renameOwnPasskey } from '../../../auth/mfa/passkeys.js';
import { Passkey, PasskeyRegistration } from '../../../contracts/mfa.js';
import type { Deps } from '../../../deps.js';
import { authenticate, authenticateForEnrolment, requireAuth } from '../../authenticate.js';
import { clientOf } from '../../client.js';
import { asRegistration, bearerAuth, CreationOptions, errorResponses, MessageBody, NameField, PasswordField, SecondFactorFields, secondFactorOf } from '../../schemas.js';

const tags = ['mfa'];
const IdParams = Type.Object({ id: Type.String({ format: 'uuid' }) });

/** Registering a passkey: with the password, and a second factor once there is one (or an enrollment token). */
export function passkeyRegistrationRoutes(deps: Deps): FastifyPluginAsyncTypebox {
  const enrolling = authenticateForEnrolment(deps);
  return async (app) => {
    app.post(
      '/api/me/passkeys/options',
      {
        preHandler: enrolling,
        schema: {
          tags,
          summary: "Start registering a passkey: the creation options for navigator.credentials.create() (the browser's PublicKeyCredentialCreationOptionsJSON)",
          description:
            'Takes the password, and a second factor (`code`, `recovery_code` or `passkey`) once the account has one: whoever holds a stolen access token cannot add a passkey. The challenge works once, within 5 minutes.',
          security: bearerAuth,
          body: Type.Object({ password: PasswordField, ...SecondFactorFields }),
          response: { 200: CreationOptions, ...errorResponses(400, 401, 413, 415, 429, 503) },
        },
      },
      async (request) => {
        const user = await accountOf(deps, requireAuth(request).userId);
        return passkeyCreationOptions(deps, user, { password: request.body.password, ...secondFactorOf(request.body) }, clientOf(request));
      },
    );

    app.post(
      '/api/me/passkeys',
      {
        preHandler: enrolling,
        schema: {
          tags,
          summary: "Register the passkey the browser made from the creation options; with the account's first factor, ten recovery codes, shown this once",
          description: 'Anything wrong (the challenge unknown, used, expired, of another user or ceremony; the origin, the RP ID, the flags) is `400 invalid_passkey_registration`.',
          security: bearerAuth,
          body: Type.Object({ response: PasskeyRegistration, name: Type.Optional(NameField) }),
          response: {
            201: Type.Object({ passkey: Passkey, recovery_codes: Type.Optional(Type.Array(Type.String(), { description: "with the account's first factor only" })) }),
            ...errorResponses(400, 401, 409, 413, 415, 429, 503),
          },
        },
      },
      async (request, reply) => {
        const user = await accountOf(deps, requireAuth(request).userId);
        const input = { response: asRegistration(request.body.response), name: request.body.name };
        return reply.status(201).send(await registerPasskey(deps, user, input, clientOf(request)));
      },
    );

  };
}

/** The signed-in user's passkeys: listed, renamed, removed. */
export function passkeyRoutes(deps: Deps): FastifyPluginAsyncTypebox {
  const preHandler = authenticate(deps);
  return async (app) => {
    app.get(
      '/api/me/passkeys',
      { preHandler, schema: { tags, summary: 'Your passkeys, oldest first', security: bearerAuth, response: { 200: Type.Object({ passkeys: Type.Array(Passkey) }), ...errorResponses(401, 429, 503) } } },
      async (request) => ({ passkeys: await listPasskeys(deps, await accountOf(deps, requireAuth(request).userId)) }),
    );

    app.patch(
      '/api/me/passkeys/:id',
      {
        preHandler,
        schema: {
          tags,
          summary: 'Rename one of your passkeys',
          security: bearerAuth,
          params: IdParams,
          body: Type.Object({ name: NameField }),
          response: { 200: Type.Object({ passkey: Passkey }), ...errorResponses(400, 401, 404, 413, 415, 429, 503) },
        },
      },
      async (request) => {
        const user = await accountOf(deps, requireAuth(request).userId);
        return { passkey: await renameOwnPasskey(deps, user, request.params.id, request.body.name, clientOf(request)) };
      },
    );

    app.delete(
      '/api/me/passkeys/:id',
      {
        preHandler,
        schema: {
          tags,
          summary: 'Remove one of your passkeys, with the password and a second factor (that passkey will do); the recovery codes go with the last factor',
          security: bearerAuth,
          params: IdParams,
          body: Type.Object({ password: PasswordField, ...SecondFactorFields }),
          response: { 200: MessageBody, ...errorResponses(400, 401, 404, 413, 415, 429, 503) },
        },
      },
      async (request) => {
        const user = await accountOf(deps, requireAuth(request).userId);
        await removeOwnPasskey(deps, user, request.params.id, { password: request.body.password, ...secondFactorOf(request.body) }, clientOf(request));
        return { message: 'The passkey was removed.' };
      },
    );
  };
}
