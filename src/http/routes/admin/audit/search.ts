import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { searchAuditLog } from '../../../../auth/audit/audit-search.js';
import { AUDIT_PAGE_DEFAULT, AUDIT_PAGE_MAX, AuditEventPage } from '../../../../contracts/audit.js';
import { oneOf } from '../../../../contracts/fields.js';
import { AUDIT_EVENT_TYPES } from '../../../../core/audit.js';
import type { Deps } from '../../../../deps.js';
import { forServiceClients } from '../../../hooks/service-client.js';
import { errorResponses } from '../../../schemas.js';

// The schema stops absurd input early; the domain (src/auth/audit/audit-search.ts) says what each field must be.
const TIME_DESCRIPTION = 'a date (`2025-05-01`, its start) or a time (`2025-05-01T12:00:00Z`, or with an offset; without one, UTC)';
const SearchQuery = Type.Object({
  user: Type.Optional(Type.String({ minLength: 1, maxLength: 254, description: "a user's id, or an email address: the events that named it and those of the user who has it now" })),
  type: Type.Optional(oneOf(AUDIT_EVENT_TYPES, { description: 'one audit event type' })),
  actor: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'who acted, exactly: `user`, `cli`, `admin:<user id>`, `service:<name>`' })),
  from: Type.Optional(Type.String({ minLength: 1, maxLength: 40, description: `events from this instant on (included): ${TIME_DESCRIPTION}` })),
  to: Type.Optional(Type.String({ minLength: 1, maxLength: 40, description: `events before this instant (excluded): ${TIME_DESCRIPTION}` })),
  limit: Type.Optional(Type.String({ pattern: '^(?:[1-9][0-9]?|1[0-9][0-9]|200)$', description: `events per page, 1 to ${AUDIT_PAGE_MAX} (default ${AUDIT_PAGE_DEFAULT})` })),
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 40, pattern: '^[A-Za-z0-9_-]+$', description: 'the `next_cursor` of the previous page' })),
});

const schema = {
  tags: ['admin'],
  summary: 'Search the audit log, newest first, a page at a time (scope admin)',
  description:
    'Every filter given must hold. Pass `next_cursor` as `cursor`, with the same filters, for the next (older) page; it is null on the last one. ' +
    'A bad filter (an unknown type, a date that does not exist, a cursor this server never gave) is `400 invalid_request`, naming the field in `details`.',
  querystring: SearchQuery,
  response: { 200: AuditEventPage, ...errorResponses(400, 401, 403, 503) },
};

export function searchAuditRoute(deps: Deps): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get('/api/admin/audit-events', { schema, config: forServiceClients('admin') }, async (request) => {
      const { limit, ...filters } = request.query;
      return searchAuditLog(deps, { ...filters, limit: limit === undefined ? AUDIT_PAGE_DEFAULT : Number(limit) });
    });
  };
}
