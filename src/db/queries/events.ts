import { sql } from 'drizzle-orm';
import { rowsOf, type Db } from '../client.js';

/** An event as stored: its type, its user, and what it says (JSON). */
export interface EventRow {
  type: string;
  userId: string;
  data: Record<string, unknown>;
}

/**
 * Inserts events in order, with a delivery for each endpoint subscribed to its type; how many deliveries.
 * Run it in the change's transaction (see recordEvents in src/core/events.ts).
 */
export async function insertEventsWithDeliveries(tx: Db, events: EventRow[], now: Date): Promise<number> {
  const rows = JSON.stringify(events.map((e) => ({ type: e.type, user_id: e.userId, data: e.data })));
  const deliveries = await tx.execute(sql`
    WITH e AS (
      INSERT INTO events (type, user_id, data, created_at)
      SELECT r.v->>'type', (r.v->>'user_id')::uuid, r.v->'data', ${now}::timestamptz
      FROM jsonb_array_elements(${rows}::jsonb) WITH ORDINALITY AS r(v, n)
      ORDER BY r.n
      RETURNING id, user_id, type
    )
    INSERT INTO webhook_deliveries (endpoint_id, event_id, user_id, created_at, next_attempt_at)
    SELECT w.id, e.id, e.user_id, ${now}::timestamptz, ${now}::timestamptz
    FROM e JOIN webhook_endpoints w ON w.disabled_at IS NULL AND e.type = ANY(w.event_types)
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
