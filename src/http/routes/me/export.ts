import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { exportAccount } from '../../../auth/account/export.js';
import { AccountExport } from '../../../contracts/activity.js';
import type { Deps } from '../../../deps.js';
import { authenticate, requireAuth } from '../../authenticate.js';
import { bearerAuth, errorResponses } from '../../schemas.js';

const schema = {
  tags: ['account'],
  summary: 'Everything Latchkey holds about you, as a JSON file: your account, sessions, security events and emails',
  description:
    'Never a password hash, a token or its hash, nor an email\'s body, link or code. Each list is newest first and bounded ' +
    '(2,000 sessions, 5,000 events, 1,000 emails); ended sessions and sent emails are kept a day, events for `AUDIT_RETENTION`.',
  security: bearerAuth,
  response: { 200: AccountExport, ...errorResponses(401, 503) },
};

export function meExportRoute(deps: Deps): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get('/api/me/export', { schema, preHandler: authenticate(deps) }, async (request, reply) => {
      const document = await exportAccount(deps, requireAuth(request).userId);
      reply.header('content-disposition', 'attachment; filename="latchkey-export.json"');
      return document;
    });
  };
}
