import { expect } from 'vitest';
import { createServiceClient, type ServiceScope } from '../../src/auth/service-clients/service-clients.js';
import type { TestApp } from './app.js';
import { basic } from './sse.js';

export type Credentials = { client_id: string; client_secret: string; name: string };

/** Service clients made straight through the domain, each named `<prefix>-<n>`, and their HTTP Basic header. */
export function serviceClients(app: () => TestApp, prefix: string) {
  let counter = 0;
  const client = (scopes: ServiceScope[]): Promise<Credentials> => {
    counter += 1;
    return createServiceClient(app().deps, { name: `${prefix}-${counter}`, scopes }, 'test');
  };
  return {
    client,
    auth: (c: Credentials) => ({ authorization: basic(c.client_id, c.client_secret) }),
    /** One client per scope: `admin`, `users:read` (reader) and `revocations:read` (feedOnly). */
    async onePerScope(): Promise<{ admin: Credentials; reader: Credentials; feedOnly: Credentials }> {
      return { admin: await client(['admin']), reader: await client(['users:read']), feedOnly: await client(['revocations:read']) };
    },
    /** A request to the app that must never get a 5xx or a stack trace, whatever it sends. */
    async call(method: 'GET' | 'POST' | 'DELETE', url: string, headers: Record<string, string> = {}, payload?: unknown) {
      const res = await app().inject({ method, url, headers, ...(payload === undefined ? {} : { payload: payload as object }) });
      expect(res.statusCode, `${method} ${url}: ${res.body}`).toBeLessThan(500);
      expect(res.body).not.toMatch(/ at .*\.(ts|js):\d+/);
      return res;
    },
  };
}
