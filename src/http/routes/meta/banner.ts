import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { MessageBody } from '../../schemas.js';

const tags = ['meta'];

/** The service banner and the public endpoint of the seed projects. */
export function bannerRoutes(): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/',
      { schema: { tags, summary: 'Service banner', response: { 200: Type.Object({ message: Type.String(), status: Type.Literal('online') }) } } },
      async () => ({ message: 'Welcome to Latchkey, the JWT Auth API', status: 'online' as const }),
    );

    app.get(
      '/api/public',
      { schema: { tags, summary: 'A public endpoint: no token needed', response: { 200: MessageBody } } },
      async () => ({ message: 'This is a public endpoint' }),
    );
  };
}
