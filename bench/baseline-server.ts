// The HTTP limit: a bare Fastify app answering a small JSON (and a static page of any size), with as many processes as Latchkey runs.
import cluster from 'node:cluster';
import Fastify from 'fastify';

const workers = Number(process.env.WORKERS ?? 1);
const port = Number(process.env.PORT ?? 5002);

if (workers > 1 && cluster.isPrimary) {
  for (let i = 0; i < workers; i++) cluster.fork();
  process.on('SIGTERM', () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.kill();
    process.exit(0);
  });
} else {
  const app = Fastify();
  app.get('/', async () => ({ message: 'Welcome', status: 'online' }));
  // A static HTML page of `bytes` bytes, made once per size: what the hosted sign-in page is compared with.
  const pages = new Map<number, string>();
  app.get<{ Querystring: { bytes?: string } }>('/page', async (request, reply) => {
    const bytes = Math.min(Number(request.query.bytes ?? 1000) || 1000, 1_000_000);
    if (!pages.has(bytes)) pages.set(bytes, `<!doctype html>${'x'.repeat(Math.max(0, bytes - 15))}`);
    return reply.header('content-type', 'text/html; charset=utf-8').send(pages.get(bytes));
  });
  await app.listen({ port, host: '127.0.0.1' });
  process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
}
