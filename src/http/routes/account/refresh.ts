import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { rotateRefreshToken } from '../../../auth/sessions/sessions.js';
import { TokenAnswer, toTokenAnswer } from '../../../contracts/tokens.js';
import type { Deps } from '../../../deps.js';
import { AppError } from '../../../errors.js';
import { bearerToken } from '../../authenticate.js';
import { clientOf, limitByAddress } from '../../client.js';
import { errorResponses } from '../../schemas.js';

const schema = {
  tags: ['auth'],
  summary: 'Exchange a refresh token for a new pair (the refresh token is rotated)',
  description:
    'Send the refresh token as `Authorization: Bearer <refresh_token>` (no body needed) or as `{"refresh_token": ...}` in the body. ' +
    'Each refresh rotates the token. Within REFRESH_REUSE_INTERVAL of its rotation, a token whose successor is unused ' +
    '(a retry) gets that same successor; any other reuse revokes the whole session.',
  security: [{ refreshToken: [] }, {}] as { [label: string]: string[] }[],
  'x-body-optional': true,
  body: Type.Object({ refresh_token: Type.Optional(Type.String({ maxLength: 512 })) }),
  response: { 200: Type.Object({ message: Type.String(), ...TokenAnswer.properties }), ...errorResponses(400, 401, 413, 429, 503) },
};

export function refreshRoute(deps: Deps): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.post(
      '/api/refresh',
      {
        schema,
        config: { ignoresBody: true },
        onRequest: limitByAddress(deps, 'refresh'),
        // A bare POST with the token in the header has no body at all; validate it as an empty object.
        preValidation: async (request) => {
          request.body ??= {};
        },
      },
      async (request) => {
        const token = bearerToken(request) ?? request.body.refresh_token;
        if (!token) throw new AppError('missing_refresh_token');
        const tokens = await rotateRefreshToken(deps, token, clientOf(request));
        return { message: 'Token refreshed successfully', ...toTokenAnswer(tokens) };
      },
    );
  };
}
