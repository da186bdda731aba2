import { requireAal } from '@latchkey/verify/fastify';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Database } from './db.js';

interface UserRow {
  id: string;
  email: string;
  name: string;
  role: string;
  created_at: Date;
  disabled_at: Date | null;
}

const notSynced = (reply: FastifyReply) =>
  reply.code(409).send({ error: 'user_not_synced', message: 'This account has not reached the app service yet; try again in a moment.' });

/** The app's own routes; the scope they are registered in has already verified the caller's token. */
export function appRoutes(app: FastifyInstance, db: Database) {
  app.get('/me', async (request, reply) => {
    const claims = request.latchkey!;
    const { rows } = await db.query<UserRow>('SELECT id, email, name, role, created_at, disabled_at FROM users WHERE id = $1', [claims.sub]);
    const user = rows[0];
    if (!user) return notSynced(reply);
    // The feed already ended a disabled user's sessions; the copy says so too, whichever arrives first.
    if (user.disabled_at) return reply.code(403).send({ error: 'account_disabled', message: 'This account is disabled.' });
    return { user, session: { sid: claims.sid, auth_time: claims.auth_time, exp: claims.exp } };
  });

  app.get('/items', async (request) => {
    const { rows } = await db.query('SELECT id, title, created_at FROM items WHERE user_id = $1 ORDER BY id', [request.latchkey!.sub]);
    return { items: rows };
  });

  app.post<{ Body: { title: string } }>(
    '/items',
    { schema: { body: { type: 'object', required: ['title'], additionalProperties: false, properties: { title: { type: 'string', minLength: 1, maxLength: 200 } } } } },
    async (request, reply) => {
      const { rows } = await db.query(
        'INSERT INTO items (user_id, title) SELECT id, $2 FROM users WHERE id = $1 RETURNING id, title, created_at',
        [request.latchkey!.sub, request.body.title],
      );
      if (rows.length === 0) return notSynced(reply);
      return reply.code(201).send({ item: rows[0] });
    },
  );

  // Emptying the whole list is the one act here that needs a second factor: a token of a password alone gets 401
  // insufficient_user_authentication, and the client signs in again with the code (or steps up).
  app.delete('/items', { preHandler: requireAal('aal2') }, async (request) => {
    const { rows } = await db.query('DELETE FROM items WHERE user_id = $1 RETURNING id', [request.latchkey!.sub]);
    return { deleted: rows.length };
  });

  app.delete<{ Params: { id: string } }>(
    '/items/:id',
    { schema: { params: { type: 'object', properties: { id: { type: 'string', pattern: '^[0-9]{1,9}$' } } } } },
    async (request, reply) => {
      // Only the caller's own items: another user's id answers as if it did not exist.
      const { rows } = await db.query('DELETE FROM items WHERE id = $1 AND user_id = $2 RETURNING id', [request.params.id, request.latchkey!.sub]);
      if (rows.length === 0) return reply.code(404).send({ error: 'item_not_found', message: 'No such item.' });
      return reply.code(204).send();
    },
  );
}
