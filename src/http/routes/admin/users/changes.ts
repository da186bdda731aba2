import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { TSchema } from 'typebox';
import { deleteUser, disableUser, enableUser, revokeUserSessions } from '../../../../auth/users/user-admin.js';
import { sendVerificationByOperator, verifyEmailByOperator } from '../../../../auth/verification/operator.js';
import { resetMfaByOperator } from '../../../../auth/mfa/operator.js';
import { sendResetByOperator } from '../../../../auth/reset/operator.js';
import { EmailVerifiedByOperator, MfaReset, ResetSent, SessionsEnded, UserDisabled, UserEnabled, VerificationSent } from '../../../../contracts/users.js';
import type { Deps } from '../../../../deps.js';
import { forServiceClients, serviceActor } from '../../../hooks/service-client.js';
import { errorResponses } from '../../../schemas.js';
import { IdParam, tags } from './user-schemas.js';

/**
 * What an operator changes of a user, over HTTP (scope admin): the same domain functions as the command
 * line (src/auth/users/user-admin.ts), so sessions end on every instance and the audit log names the
 * client (`actor: "service:<name>"`). No body is read: whatever is sent (`{}`, nothing, any Content-Type)
 * is ignored.
 */
interface UserChange {
  method: 'DELETE' | 'POST';
  url: string;
  summary: string;
  answer: TSchema;
  run(deps: Deps, id: string, actor: string): Promise<unknown>;
}

const CHANGES: UserChange[] = [
  {
    method: 'DELETE',
    url: '/api/admin/users/:id',
    summary: 'Delete a user: their sessions end on every instance, then the account and its tokens are deleted (scope admin)',
    answer: SessionsEnded,
    run: (deps, id, actor) => deleteUser(deps, id, actor),
  },
  {
    method: 'POST',
    url: '/api/admin/users/:id/disable',
    summary: 'Disable a user: no sign-in, refresh or password reset; every session and access token ends now (scope admin)',
    answer: UserDisabled,
    run: disableUser,
  },
  {
    method: 'POST',
    url: '/api/admin/users/:id/enable',
    summary: 'Let a disabled user sign in again; the sessions disabling ended stay ended (scope admin)',
    answer: UserEnabled,
    run: enableUser,
  },
  {
    method: 'POST',
    url: '/api/admin/users/:id/sessions/revoke',
    summary: 'Sign a user out everywhere: every session and access token ends now, on every instance (scope admin)',
    answer: SessionsEnded,
    run: revokeUserSessions,
  },
  {
    method: 'POST',
    url: '/api/admin/users/:id/verify-email',
    summary: 'Mark a user\'s email address verified, on the operator\'s word (scope admin)',
    answer: EmailVerifiedByOperator,
    run: verifyEmailByOperator,
  },
  {
    method: 'POST',
    url: '/api/admin/users/:id/send-verification',
    summary: 'Email a user a new verification link and code; `sent: false` when verified already or disabled (scope admin)',
    answer: VerificationSent,
    run: sendVerificationByOperator,
  },
  {
    method: 'POST',
    url: '/api/admin/users/:id/send-reset',
    summary: 'Email a user a password reset link (RESET_TOKEN_TTL), whatever the reset mail limits; `sent: false` when disabled (scope admin)',
    answer: ResetSent,
    run: sendResetByOperator,
  },
  {
    method: 'POST',
    url: '/api/admin/users/:id/mfa/reset',
    summary: 'Remove a user\'s second factors (authenticator app, passkeys) and recovery codes (lost factors): sign-in takes the password alone until they set up another; the user is mailed (scope admin)',
    answer: MfaReset,
    run: resetMfaByOperator,
  },
];

export function userChangeRoutes(deps: Deps): FastifyPluginAsyncTypebox {
  return async (app) => {
    for (const change of CHANGES) {
      app.route({
        method: change.method,
        url: change.url,
        config: { ...forServiceClients('admin'), ignoresBody: true },
        schema: { tags, summary: change.summary, params: IdParam, response: { 200: change.answer, ...errorResponses(400, 401, 403, 404, 503) } },
        handler: async (request) => change.run(deps, request.params.id, serviceActor(request)),
      });
    }
  };
}
