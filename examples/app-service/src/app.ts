import { verifyWebhook, WebhookVerificationError, type Verifier } from '@latchkey/verify';
import { latchkey } from '@latchkey/verify/fastify';
import Fastify from 'fastify';
import type { AppConfig } from './config.js';
import type { Database } from './db.js';
import { appRoutes } from './routes.js';
import { applyWebhook } from './sync.js';

export interface AppDeps {
  config: AppConfig;
  db: Database;
  verifier: Verifier;
  /** Resolves once the verifier has Latchkey's keys and, with the feed, its revocations (see /readyz). */
  ready: () => boolean;
}

export function buildApp({ config, db, verifier, ready }: AppDeps) {
  const app = Fastify({
    logger: { level: config.logLevel },
    bodyLimit: 64 * 1024,
    // Refuse what a schema does not allow rather than drop or convert it (Fastify's defaults).
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false } },
  });

  app.setErrorHandler((err: { validation?: unknown; statusCode?: number; message: string }, request, reply) => {
    if (err.validation || (err.statusCode && err.statusCode < 500))
      return reply.code(err.statusCode && err.statusCode < 500 ? err.statusCode : 400).send({ error: 'invalid_request', message: err.message });
    request.log.error({ err }, 'request failed');
    return reply.code(500).send({ error: 'internal_error', message: 'Something went wrong; try again.' });
  });

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => (ready() ? { status: 'ready' } : reply.code(503).send({ status: 'starting' })));

  // Latchkey's webhooks: the seed's auth service posted its users to /sync_user; Latchkey does it signed.
  app.register(async (hooks) => {
    // The signature covers the exact bytes sent: keep them, parse after checking.
    hooks.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
    hooks.post<{ Body: Buffer }>('/sync_user', async (request, reply) => {
      try {
        const event = verifyWebhook({ secret: config.webhookSecret, headers: request.headers, body: request.body });
        const outcome = await applyWebhook(db, String(request.headers['webhook-id']), event);
        request.log.info({ webhookId: request.headers['webhook-id'], type: event.type, outcome }, 'webhook');
        return reply.code(204).send();
      } catch (err) {
        if (err instanceof WebhookVerificationError) return reply.code(400).send({ error: err.code, message: err.message });
        throw err;
      }
    });
  });

  // Everything else needs a valid Latchkey access token of a session that is still open.
  app.register(async (scope) => {
    await scope.register(latchkey, { verifier });
    appRoutes(scope, db);
  });

  return app;
}
