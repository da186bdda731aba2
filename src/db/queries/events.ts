import { sql } from 'drizzle-orm';
import { rowsOf, type Db } from '../client.js';

const UUID_PATTERN = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';

/** An event as stored: its type, its user, and what it says (JSON). */
export interface EventRow {
  type: string;
  userId: string;
  data: Record<string, unknown>;
}

/**
 * Inserts events in order, with a delivery for each endpoint subscribed to its type; how many deliveries.
 * Run it in the change's transaction (see recordEvents in src/core/events.ts).
 *
 * The session.revoked of an OAuth client's session is stored with its `client_id` and `parent_sid` (the browser
 * session that authorised it, the `sid` of the client's ID tokens), read from the session's row, which the revoking
 * transaction still holds: whatever ended it, the event says whose it was. An OAuth client's own back-channel logout
 * endpoint (`oauth_client_id`) gets a delivery for its own sessions' ends only, never another client's or a session
 * of Latchkey's.
 */
export async function insertEventsWithDeliveries(tx: Db, events: EventRow[], now: Date): Promise<number> {
  const rows = JSON.stringify(events.map((e) => ({ type: e.type, user_id: e.userId, data: e.data })));
  const deliveries = await tx.execute(sql`
    WITH e AS (
      INSERT INTO events (type, user_id, data, created_at)
      SELECT r.v->>'type', (r.v->>'user_id')::uuid, r.v->'data' || coalesce(oauth.session, '{}'::jsonb), ${now}::timestamptz
      FROM jsonb_array_elements(${rows}::jsonb) WITH ORDINALITY AS r(v, n)
      LEFT JOIN LATERAL (
        SELECT jsonb_build_object('client_id', s.client_id, 'parent_sid', s.parent_session_id) AS session FROM sessions s
        -- Only a session id is looked up (and cast): an event of another type may carry anything.
        WHERE s.id = CASE WHEN r.v->>'type' = 'session.revoked' AND r.v->'data'->>'sid' ~ ${UUID_PATTERN} THEN (r.v->'data'->>'sid')::uuid END
          AND s.client_id IS NOT NULL
      ) oauth ON true
      ORDER BY r.n
      RETURNING id, user_id, type, data
    )
    INSERT INTO webhook_deliveries (endpoint_id, event_id, user_id, created_at, next_attempt_at)
    SELECT w.id, e.id, e.user_id, ${now}::timestamptz, ${now}::timestamptz
    FROM e JOIN webhook_endpoints w ON w.disabled_at IS NULL AND e.type = ANY(w.event_types)
      AND (w.oauth_client_id IS NULL OR w.oauth_client_id = e.data->>'client_id')
    ORDER BY e.id, w.id
    -- An endpoint being removed meanwhile is waited for and then skipped, rather than failing the change.
    FOR KEY SHARE OF w
    RETURNING id`);
  return rowsOf(deliveries).length;
}

/** Deletes up to 5,000 events created before `before` that no endpoint is still waiting for (their deliveries go with them). */
export async function deleteEventsBefore(db: Db, before: Date): Promise<void> {
  await db.execute(sql`
    DELETE FROM events WHERE id IN (
      SELECT ev.id FROM events ev
      WHERE ev.created_at < ${before}::timestamptz
        AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = ev.id AND d.status = 'pending')
      LIMIT 5000
    )`);
}
