import type { FastifyInstance } from 'fastify';

/**
 * JSON only. Bodyless routes (logout, refresh) accept and ignore whatever a client sends, as the seeds' clients
 * send `{}` as text, and an empty body labelled JSON, as clients that set that header on every request send.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any server, logger and type provider
export function installContentTypes(app: FastifyInstance<any, any, any, any, any>, bodyLimit: number) {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit }, (request, body, done) => {
    if (body === '' && request.routeOptions.config.ignoresBody) return done(null, undefined);
    return parseJson(request, body as string, done);
  });
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser('*', (request, payload, done) => {
    if (!request.routeOptions.config.ignoresBody) {
      done(Object.assign(new Error('unsupported media type'), { code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE', statusCode: 415 }));
      return;
    }
    payload.on('data', () => {});
    payload.on('end', () => done(null, undefined));
    payload.on('error', done);
  });
}
