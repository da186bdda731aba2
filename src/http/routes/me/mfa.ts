import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { accountOf } from '../../../auth/account/account.js';
import { beginTotpEnrolment, confirmTotp, regenerateRecoveryCodes, removeTotp } from '../../../auth/mfa/factors.js';
import { RecoveryCodes, TotpSetup } from '../../../contracts/mfa.js';
import type { Deps } from '../../../deps.js';
import { authenticate, authenticateForEnrolment, requireAuth } from '../../authenticate.js';
import { clientOf } from '../../client.js';
import { bearerAuth, errorResponses, MessageBody, MfaCodeField, PasswordField, SecondFactorFields, secondFactorOf } from '../../schemas.js';

const tags = ['mfa'];

/** The password, and a second factor: a code from the authenticator app, or a recovery code. */
const Proof = Type.Object({ password: PasswordField, ...SecondFactorFields });

/** The signed-in user's second factors: an authenticator app (TOTP) and its recovery codes. */
export function mfaRoutes(deps: Deps): FastifyPluginAsyncTypebox {
  const preHandler = authenticate(deps);
  const enrolling = authenticateForEnrolment(deps);
  return async (app) => {
    app.post(
      '/api/me/mfa/totp',
      {
        preHandler: enrolling,
        schema: {
          tags,
          summary: 'Start setting up an authenticator app: its secret, otpauth:// URI and QR code. Nothing changes until a first code confirms it',
          description:
            'Takes the password, and a second factor (`code`, `recovery_code` or `passkey`) once the account has one (a passkey). Starting again replaces a setup not confirmed yet; an app already set up is `409 mfa_already_enabled`.',
          security: bearerAuth,
          body: Type.Object({ password: PasswordField, ...SecondFactorFields }),
          response: { 200: TotpSetup, ...errorResponses(400, 401, 409, 413, 415, 429, 503) },
        },
      },
      async (request) => {
        const user = await accountOf(deps, requireAuth(request).userId);
        return beginTotpEnrolment(deps, user, { password: request.body.password, ...secondFactorOf(request.body) }, clientOf(request));
      },
    );

    app.post(
      '/api/me/mfa/totp/confirm',
      {
        preHandler: enrolling,
        schema: {
          tags,
          summary: 'Confirm the authenticator app with a code from it: from now on sign-in takes a code. The answer holds ten recovery codes, shown this once',
          description: 'With the account\'s first factor come ten recovery codes; an account with passkeys keeps its codes (`recovery_codes` is then empty).',
          security: bearerAuth,
          body: Type.Object({ code: MfaCodeField }),
          response: { 200: RecoveryCodes, ...errorResponses(400, 401, 409, 413, 415, 429, 503) },
        },
      },
      async (request) => {
        const user = await accountOf(deps, requireAuth(request).userId);
        return { recovery_codes: await confirmTotp(deps, user, request.body.code, clientOf(request)) };
      },
    );

    app.delete(
      '/api/me/mfa/totp',
      {
        preHandler,
        schema: {
          tags,
          summary: 'Remove the authenticator app, and the recovery codes with it: sign-in takes the password alone again',
          description: 'Takes the password and a code from the app (or a recovery code): a missing or wrong one is `401 invalid_mfa_code`.',
          security: bearerAuth,
          body: Proof,
          response: { 200: MessageBody, ...errorResponses(400, 401, 413, 415, 429, 503) },
        },
      },
      async (request) => {
        const user = await accountOf(deps, requireAuth(request).userId);
        await removeTotp(deps, user, request.body.password, secondFactorOf(request.body), clientOf(request));
        return { message: 'The authenticator app and the recovery codes were removed.' };
      },
    );

    app.post(
      '/api/me/mfa/recovery-codes',
      {
        preHandler,
        schema: {
          tags,
          summary: 'Replace the recovery codes with ten new ones, shown this once: the old ones stop working',
          description: 'Takes the password and a code from the app (or a recovery code); `409 mfa_not_enrolled` without an authenticator app.',
          security: bearerAuth,
          body: Proof,
          response: { 200: RecoveryCodes, ...errorResponses(400, 401, 409, 413, 415, 429, 503) },
        },
      },
      async (request) => {
        const user = await accountOf(deps, requireAuth(request).userId);
        return { recovery_codes: await regenerateRecoveryCodes(deps, user, request.body.password, secondFactorOf(request.body), clientOf(request)) };
      },
    );
  };
}
