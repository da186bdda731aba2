import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Deps } from '../../../deps.js';
import { forServiceClients } from '../../hooks/service-client.js';
import { createRevocationStreams, parseLastEventId } from '../../revocation-streams.js';
import { errorResponses } from '../../schemas.js';

// A stream's socket may hold this much its consumer has not read; past it the stream closes (the consumer resumes).
const MAX_BUFFERED_BYTES = 1024 * 1024;
const STREAMS_PER_CLIENT = 10;

const DESCRIPTION = `Server-Sent Events: every revocation, as this instance learns it (from any instance).

Starts with \`retry: 1000\`, then replays the revocations whose access tokens may still be alive (with
\`Last-Event-ID\`, only those this instance learned from 60 s before it on; an id later than the server's
clock, or not a number, replays them all), then \`event: ready\`, then live events:

- \`session.revoked\`, \`{"sid", "revoked_at"}\`: every access token with that \`sid\` is dead;
- \`user.not_before\`, \`{"sub", "not_before"}\`: every access token of that \`sub\` whose \`auth_time\` * 1000 < \`not_before\` is dead;
- \`key.revoked\`, \`{"kid", "revoked_at"}\`: the signing key \`kid\` was revoked: every access token it signed is dead, and a
  cached JWKS must drop it (it has left Latchkey's);
- \`heartbeat\`, \`{"time"}\`, every \`REVOCATION_FEED_HEARTBEAT\`; \`ready\`, \`{"time"}\`, once, after the replay.

Each revocation's \`id\` is when this instance learned it, in milliseconds since the epoch by its clock (never
less than the id before it); times in the data are milliseconds since the epoch too, and never ahead of the
clock of the instance that made the change. Duplicates can occur (treat revocations as a set). Needs a
service client with \`revocations:read\`.`;

const schema = {
  tags: ['services'],
  summary: 'The live revocation feed, for services that verify access tokens themselves',
  description: DESCRIPTION,
  response: {
    200: {
      description: 'an event stream that stays open',
      content: { 'text/event-stream': { schema: Type.String() } },
    },
    ...errorResponses(401, 403, 429),
  },
};

export function revocationFeedRoute(deps: Deps): FastifyPluginAsyncTypebox {
  return async (app) => {
    const streams = createRevocationStreams(deps, {
      heartbeatMs: deps.config.revocationFeed.heartbeat * 1000,
      perClient: STREAMS_PER_CLIENT,
      // Streams hold their connections: they never take more than half of MAX_CONNECTIONS.
      total: Math.max(1, Math.floor(deps.config.connections.max / 2)),
      maxBufferedBytes: MAX_BUFFERED_BYTES,
    });
    deps.metricsRegistry?.countStreams(streams);
    // Before the server waits for requests in flight: an open stream would hold the stop.
    app.addHook('preClose', (done) => {
      streams.close();
      done();
    });

    app.get('/api/revocations/stream', { schema, config: { ...forServiceClients('revocations:read'), streams: true } }, async (request, reply) => {
      const out = streams.open(request.serviceClient!, parseLastEventId(request.headers['last-event-id']), reply.raw);
      reply.header('content-type', 'text/event-stream; charset=utf-8').header('cache-control', 'no-store').header('x-accel-buffering', 'no');
      // The schema documents the stream's text; Fastify pipes the stream itself, with its backpressure.
      return reply.send(out as never);
    });
  };
}
