import type { FastifyInstance, FastifyRequest } from 'fastify';
import { authenticateServiceClient, type AuthenticatedServiceClient, type ServiceScope } from '../../auth/service-clients/service-clients.js';
import type { Deps } from '../../deps.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The service client that authenticated, on a route that declares `serviceScopes`. */
    serviceClient: AuthenticatedServiceClient | null;
  }
  interface FastifyContextConfig {
    /** Only a service client (HTTP Basic) holding one of these scopes may call the route. */
    serviceScopes?: readonly ServiceScope[];
  }
}

/** The route options of a route for service clients holding one of `scopes`. */
export function forServiceClients(...scopes: ServiceScope[]) {
  return { serviceScopes: scopes };
}

/** Who acted, for the audit log, on a route for service clients. */
export function serviceActor(request: FastifyRequest): string {
  return `service:${request.serviceClient!.name}`;
}

/**
 * One hook for every route that declares `config.serviceScopes`: 401 invalid_client without a good
 * credential, 403 insufficient_scope without one of the scopes. It runs first, before anything else of the
 * request is looked at (its body, its path parameters): without a good credential, a bad id is a 401 too.
 * The OpenAPI document learns the route's security from the same declaration.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any server, logger and type provider
export function installServiceClientAuth(app: FastifyInstance<any, any, any, any, any>, deps: Pick<Deps, 'db'>) {
  app.decorateRequest('serviceClient', null);
  app.addHook('onRoute', (route) => {
    const scopes = route.config?.serviceScopes;
    if (!scopes) return;
    route.schema = { ...route.schema, security: [{ serviceClient: [] }] };
    route.onRequest = [authenticateClient(deps, scopes), ...toArray(route.onRequest)];
  });
}

function authenticateClient(deps: Pick<Deps, 'db'>, scopes: readonly ServiceScope[]) {
  return async (request: FastifyRequest) => {
    request.serviceClient = await authenticateServiceClient(deps, request.headers.authorization, scopes);
  };
}

const toArray = <T>(value: T | T[] | undefined): T[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);
