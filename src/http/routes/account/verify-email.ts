import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { cancelEmailChange } from '../../../auth/account/email-change.js';
import { followEmailLink } from '../../../auth/account/email-links.js';
import { resendVerificationToAddress, resendVerificationToUser, verifyEmailCode } from '../../../auth/verification/email-verification.js';
import type { Deps } from '../../../deps.js';
import { AppError } from '../../../errors.js';
import { authenticate, requireAuth } from '../../authenticate.js';
import { clientOf, limitByAddress } from '../../client.js';
import { EmailField, errorResponses, MessageBody, OneTimeTokenField, UserRef, VerificationCodeField } from '../../schemas.js';

export const RESEND_MESSAGE = 'If this address has an account that is not verified yet, a new verification email has been sent to it.';

const MESSAGES = {
  verified: 'Your email address is verified.',
  email_changed: 'Your email address has been changed, and is verified.',
} as const;

const verifySchema = {
  tags: ['verification'],
  summary: 'Prove an address: the token of an emailed link (verification, or an email change), or the email and its 6-digit code',
  description:
    'Send `{"token"}` (the end of the link `PUBLIC_URL/verify-email/<token>`), or `{"email", "code"}`. A used, expired, superseded or unknown ' +
    'token or code, or an address with no account, is `400 invalid_verification_token`; five wrong codes spend the code.',
  body: Type.Object({ token: Type.Optional(OneTimeTokenField), email: Type.Optional(EmailField), code: Type.Optional(VerificationCodeField) }),
  response: { 200: Type.Object({ message: Type.String(), user: UserRef }), ...errorResponses(400, 409, 413, 415, 429, 503) },
};

const resendSchema = {
  tags: ['verification'],
  summary: 'Send a new verification email: to the signed-in user (access token), or to `{email}` (the same answer whether or not it has an account)',
  security: [{ bearerAuth: [] }, {}] as { [label: string]: string[] }[],
  'x-body-optional': true,
  body: Type.Object({ email: Type.Optional(EmailField) }),
  response: { 200: MessageBody, ...errorResponses(400, 401, 413, 415, 429, 503) },
};

const cancelSchema = {
  tags: ['verification'],
  summary: '"This wasn\'t me": undo an email change with the token of the link sent to the old address; signs out every session',
  body: Type.Object({ token: OneTimeTokenField }),
  response: { 200: MessageBody, ...errorResponses(400, 413, 415, 429, 503) },
};

type Proof = { token: string } | { email: string; code: string };

function oneProof(body: { token?: string | undefined; email?: string | undefined; code?: string | undefined }): Proof {
  const { token, email, code } = body;
  if (token !== undefined && email === undefined && code === undefined) return { token };
  if (token === undefined && email !== undefined && code !== undefined) return { email, code };
  throw new AppError('invalid_request', 'Invalid request: send either "token", or "email" and "code".', [
    { field: 'token', message: 'send either "token", or "email" and "code"' },
  ]);
}

export function verifyEmailRoutes(deps: Deps): FastifyPluginAsyncTypebox {
  const requireToken = authenticate(deps);
  return async (app) => {
    app.post('/api/verify-email', { schema: verifySchema, onRequest: limitByAddress(deps, 'verify') }, async (request) => {
      const proof = oneProof(request.body);
      const done = 'token' in proof ? await followEmailLink(deps, proof.token, clientOf(request)) : await verifyEmailCode(deps, proof.email, proof.code, clientOf(request));
      return { message: MESSAGES[done.outcome], user: done.user };
    });

    app.post(
      '/api/verify-email/resend',
      {
        schema: resendSchema,
        config: { ignoresBody: true },
        onRequest: limitByAddress(deps, 'verify'),
        preValidation: async (request) => {
          request.body ??= {};
        },
      },
      async (request, reply) => {
        if (request.headers.authorization !== undefined) {
          await requireToken(request, reply);
          const outcome = await resendVerificationToUser(deps, requireAuth(request).userId, clientOf(request));
          return { message: outcome === 'already_verified' ? 'Your email address is already verified.' : 'A new verification email has been sent.' };
        }
        if (request.body.email === undefined) {
          throw new AppError('invalid_request', 'Invalid request: send an access token, or "email".', [{ field: 'email', message: 'is required without an access token' }]);
        }
        await resendVerificationToAddress(deps, request.body.email, clientOf(request));
        return { message: RESEND_MESSAGE };
      },
    );

    app.post('/api/cancel-email-change', { schema: cancelSchema, onRequest: limitByAddress(deps, 'verify') }, async (request) => {
      const { reverted } = await cancelEmailChange(deps, request.body.token, clientOf(request));
      return { message: cancelMessage(reverted) };
    });
  };
}

export function cancelMessage(reverted: boolean): string {
  return `${reverted ? 'The email change was undone' : 'The email change was cancelled'}, and every device signed in to the account was signed out. Reset the password now.`;
}
