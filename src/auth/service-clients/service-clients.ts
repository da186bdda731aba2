import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../../core/clock.js';
import type { Db } from '../../db/client.js';
import { notify } from '../../db/queries/notify.js';
import {
  deleteServiceClient,
  insertServiceClient,
  selectServiceClientById,
  selectServiceClientByRef,
  selectServiceClients,
  selectServiceClientSecrets,
  updateServiceClientSecret,
  type ServiceClientRow as Row,
} from '../../db/queries/service-clients.js';
import { AppError } from '../../errors.js';
import { recordAuditEvent } from '../../core/audit.js';
import { hashToken } from '../../core/secrets.js';
import { basicCredentials } from '../../core/basic-auth.js';

/**
 * Service clients: other services that call Latchkey (the revocation feed, the admin API), each registered by an
 * operator with a name and scopes, and authenticated with HTTP Basic (client id and secret). The secret
 * is 256 random bits shown once, at creation or rotation; only its SHA-256 is stored, as for refresh tokens.
 */

/** The closed list of scopes a service client may hold. */
export const SERVICE_SCOPES = ['revocations:read', 'users:read', 'admin'] as const;
export type ServiceScope = (typeof SERVICE_SCOPES)[number];

/** Letters, digits, `.`, `_` and `-`, from a letter or digit; never a client id's `lkc_` prefix. */
export const SERVICE_NAME_PATTERN = /^(?!lkc_)[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const CLIENT_ID_PATTERN = /^lkc_[A-Za-z0-9_-]{16,64}$/;
const CLIENT_SECRET_PATTERN = /^lks_[A-Za-z0-9_-]{43}$/;
// Basic credentials of our ids and secrets fit well within this; anything longer is not ours.
const MAX_AUTHORIZATION_LENGTH = 512;

/** Tells this process that a client's secret changed or it was removed (its open streams close). */
export const SERVICE_CLIENTS_CHANNEL = 'latchkey_service_clients';

/** A service client as an operator sees it; never its secret. */
export interface ServiceClientInfo {
  client_id: string;
  name: string;
  scopes: ServiceScope[];
  created_at: string;
  secret_rotated_at: string | null;
}

/** A client id with its secret: shown once, never stored. */
export interface ServiceClientCredentials extends ServiceClientInfo {
  client_secret: string;
}

/** A client that proved its secret, and what it may do. */
export interface AuthenticatedServiceClient {
  clientId: string;
  name: string;
  scopes: ServiceScope[];
  /** The stored hash its secret matched: a stream checks it again to learn of a rotation. */
  secretHash: string;
}

/**
 * Changes of service clients, told to whoever holds something a client opened (its revocation streams).
 * `changed(undefined)` means any client may have changed (a lost notice): check them all.
 */
export interface ServiceClientEvents {
  changed(clientId: string | undefined): void;
  subscribe(listener: (clientId: string | undefined) => void): () => void;
}

export function createServiceClientEvents(): ServiceClientEvents {
  const listeners = new Set<(clientId: string | undefined) => void>();
  return {
    changed(clientId) {
      for (const listener of listeners) listener(clientId);
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
  };
}

interface ServiceDeps {
  db: Db;
  clock: Clock;
}
interface ChangingDeps extends ServiceDeps {
  serviceClientEvents: ServiceClientEvents;
}

function toInfo(row: Row): ServiceClientInfo {
  return {
    client_id: row.clientId,
    name: row.name,
    scopes: row.scopes as ServiceScope[],
    created_at: row.createdAt.toISOString(),
    secret_rotated_at: row.secretRotatedAt?.toISOString() ?? null,
  };
}

const newClientId = () => `lkc_${randomBytes(16).toString('base64url')}`;
const newSecret = () => `lks_${randomBytes(32).toString('base64url')}`;

/** The client named by `ref`: its name or its client id; `service_client_not_found` otherwise. */
export async function findServiceClient(db: Db, ref: string): Promise<Row> {
  const row = await selectServiceClientByRef(db, ref);
  if (!row) throw new AppError('service_client_not_found');
  return row;
}

/** Registers a service; the answer holds its secret, which is never shown again. */
export async function createServiceClient(
  deps: ServiceDeps,
  input: { name: string; scopes: readonly ServiceScope[] },
  actor: string,
): Promise<ServiceClientCredentials> {
  const secret = newSecret();
  const scopes = [...new Set(input.scopes)];
  const row = await deps.db.transaction(async (tx) => {
    const values = { clientId: newClientId(), name: input.name, secretHash: hashToken(secret), scopes, createdAt: deps.clock.now() };
    const row = await insertServiceClient(tx, values);
    if (!row) throw new AppError('service_client_exists');
    await recordAuditEvent(tx, deps.clock, {
      type: 'service_client_created',
      details: { actor, clientId: row.clientId, name: row.name, scopes },
    });
    return row;
  });
  return { ...toInfo(row), client_secret: secret };
}

/** Every service client, by name; never a secret. */
export async function listServiceClients(deps: Pick<ServiceDeps, 'db'>): Promise<ServiceClientInfo[]> {
  return (await selectServiceClients(deps.db)).map(toInfo);
}

/** Tells every instance, inside the changing transaction, that a client changed. */
async function announceChange(tx: Db, clientId: string) {
  await notify(tx, SERVICE_CLIENTS_CHANNEL, clientId);
}

/**
 * Changes one client in a transaction that tells every instance (its streams close everywhere) and audits
 * the change as `type`, then tells this one.
 */
async function changeServiceClient(
  deps: ChangingDeps,
  ref: string,
  actor: string,
  type: 'service_client_secret_rotated' | 'service_client_removed',
  change: (tx: Db, clientId: string) => Promise<Row | undefined>,
) {
  const found = await findServiceClient(deps.db, ref);
  const row = await deps.db.transaction(async (tx) => {
    const row = await change(tx, found.clientId);
    if (!row) throw new AppError('service_client_not_found');
    await announceChange(tx, row.clientId);
    await recordAuditEvent(tx, deps.clock, { type, details: { actor, clientId: row.clientId, name: row.name } });
    return row;
  });
  deps.serviceClientEvents.changed(row.clientId);
  return row;
}

/** A new secret for a client; the old one stops working at once, and the streams it opened close. */
export async function rotateServiceClientSecret(deps: ChangingDeps, ref: string, actor: string): Promise<ServiceClientCredentials> {
  const secret = newSecret();
  const row = await changeServiceClient(deps, ref, actor, 'service_client_secret_rotated', (tx, clientId) =>
    updateServiceClientSecret(tx, clientId, hashToken(secret), deps.clock.now()),
  );
  return { ...toInfo(row), client_secret: secret };
}

/** Removes a client: its secret stops working at once, and the streams it opened close. */
export async function removeServiceClient(deps: ChangingDeps, ref: string, actor: string): Promise<ServiceClientInfo> {
  const row = await changeServiceClient(deps, ref, actor, 'service_client_removed', deleteServiceClient);
  return toInfo(row);
}

function invalidClient(): AppError {
  const err = new AppError('invalid_client');
  err.headers = { 'www-authenticate': 'Basic realm="latchkey"' };
  return err;
}

/** The client id and secret of a Basic Authorization header, or undefined when it is not one of ours. */
function serviceCredentials(header: string | undefined): { clientId: string; secret: string } | undefined {
  const basic = basicCredentials(header, MAX_AUTHORIZATION_LENGTH);
  if (typeof basic !== 'object' || !CLIENT_ID_PATTERN.test(basic.id) || !CLIENT_SECRET_PATTERN.test(basic.secret)) return undefined;
  return { clientId: basic.id, secret: basic.secret };
}

/** Whether an Authorization header's Basic credentials name a service client (`lkc_…`), right or wrong. */
export function namesServiceClient(header: string | undefined): boolean {
  const basic = basicCredentials(header, MAX_AUTHORIZATION_LENGTH);
  return typeof basic === 'object' && basic.id.startsWith('lkc_');
}

const sameHash = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
// Compared against when the client id is unknown, so that both failures cost the same.
const NO_CLIENT_HASH = hashToken('no such client');

/**
 * Authenticates a service client from an `Authorization: Basic` header (`client_id:client_secret`):
 * 401 `invalid_client` (with `WWW-Authenticate: Basic realm="latchkey"`) for a missing, malformed or
 * unknown credential, 403 `insufficient_scope` for a client that lacks `requiredScope` (given a list:
 * that holds none of them).
 */
export async function authenticateServiceClient(
  deps: Pick<ServiceDeps, 'db'>,
  authorizationHeader: string | undefined,
  requiredScope: ServiceScope | readonly ServiceScope[],
): Promise<AuthenticatedServiceClient> {
  const credentials = serviceCredentials(authorizationHeader);
  if (!credentials) throw invalidClient();
  const row = await selectServiceClientById(deps.db, credentials.clientId);
  const presented = hashToken(credentials.secret);
  if (!sameHash(presented, row?.secretHash ?? NO_CLIENT_HASH) || !row) throw invalidClient();
  const scopes = row.scopes as ServiceScope[];
  const anyOf: readonly ServiceScope[] = typeof requiredScope === 'string' ? [requiredScope] : requiredScope;
  if (!anyOf.some((scope) => scopes.includes(scope))) {
    throw new AppError('insufficient_scope', `This service client lacks the ${anyOf.map((s) => `"${s}"`).join(' or ')} scope.`);
  }
  return { clientId: row.clientId, name: row.name, scopes, secretHash: row.secretHash };
}

/** The clients among `clientIds` that still hold `scope`, each with its current secret hash (removed ones are absent). */
export async function currentServiceClients(db: Db, clientIds: string[], scope: ServiceScope): Promise<Map<string, string>> {
  if (clientIds.length === 0) return new Map();
  const rows = await selectServiceClientSecrets(db, clientIds);
  return new Map(rows.filter((r) => r.scopes.includes(scope)).map((r) => [r.clientId, r.secretHash]));
}
