import { createServiceClient, type ServiceScope } from '../../src/auth/service-clients.js';
import type { TestApp } from './app.js';
import { basic } from './sse.js';

export type Credentials = { client_id: string; client_secret: string; name: string };

/** Service clients made straight through the domain, each named `<prefix>-<n>`, and their HTTP Basic header. */
export function serviceClients(app: () => TestApp, prefix: string) {
  let counter = 0;
  return {
    client(scopes: ServiceScope[]): Promise<Credentials> {
      counter += 1;
      return createServiceClient(app().deps, { name: `${prefix}-${counter}`, scopes }, 'test');
    },
    auth: (c: Credentials) => ({ authorization: basic(c.client_id, c.client_secret) }),
  };
}
