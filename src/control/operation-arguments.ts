import { Type, type TObject } from 'typebox';
import { IMPORT_BATCH_MAX } from '../auth/import/user-import.js';
import { SERVICE_NAME_PATTERN, SERVICE_SCOPES } from '../auth/service-clients/service-clients.js';
import { issuerProblem, PROVIDER_NAME_PATTERN, RESERVED_PROVIDER_NAMES } from '../auth/upstream/providers.js';
import { UPSTREAM_TYPES } from '../contracts/upstream.js';
import { OAUTH_CLIENT_NAME_PATTERN } from '../auth/oauth/clients.js';
import { EmailField, NameField, oneOf, PasswordField } from '../contracts/fields.js';
import { KID_MAX_LENGTH } from '../contracts/keys.js';
import { DELIVERIES_PAGE_MAX, DELIVERY_STATUSES } from '../contracts/webhooks.js';
import { EVENT_TYPES } from '../core/events.js';
import { checkWebhookUrl, CONTROL_CHARACTERS } from '../webhooks/endpoints.js';
import type { ArgumentsSpec } from './arguments.js';

/** The arguments of each operation of src/control/operations.ts, with the HTTP routes' field declarations. */

const strict = { additionalProperties: false } as const;
const spec = <S extends TObject>(s: ArgumentsSpec<S>) => s;

export const NO_ARGUMENTS = spec({ schema: Type.Object({}, strict) });

const USER_REF = { user: 'must be an email or a user id' };
export const USER = spec({ schema: Type.Object({ user: Type.String({ minLength: 1, maxLength: 254 }) }, strict), trim: ['user'], messages: USER_REF });

/** `sessions revoke`: every session of a user, or one session by its id; one of the two. */
export const REVOKE_SESSIONS = spec({
  schema: Type.Object(
    { user: Type.Optional(Type.String({ minLength: 1, maxLength: 254 })), session: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })) },
    strict,
  ),
  trim: ['user', 'session'],
  messages: { ...USER_REF, session: 'must be a session id' },
  refine: (a) => ((a.user === undefined) === (a.session === undefined) ? 'give a session id or a user, not both' : undefined),
});

export const CREATE_USER = spec({
  schema: Type.Object({ email: EmailField, name: NameField, password: PasswordField, admin: Type.Optional(Type.Boolean()), verified: Type.Optional(Type.Boolean()) }, strict),
  trim: ['email'],
  messages: { email: 'must be an email address', name: 'must have a visible character and no control character' },
});

export const LIST_USERS = spec({
  schema: Type.Object(
    {
      limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
      offset: Type.Optional(Type.Integer({ minimum: 0 })),
      after: Type.Optional(Type.String({ format: 'uuid' })),
    },
    strict,
  ),
  messages: { after: 'must be a user id' },
  refine: (a) => (a.offset !== undefined && a.after !== undefined ? 'give offset or after, not both' : undefined),
});

// Rows as a source read them: importUserBatch checks each one again, whoever sent it.
const Raw = Type.Optional(Type.Unknown());
const ImportRow = Type.Object(
  { row: Type.Integer({ minimum: 0 }), id: Raw, name: Raw, email: Raw, password_hash: Raw, created_at: Raw, active: Raw, unreadable: Type.Optional(Type.String({ maxLength: 1000 })) },
  strict,
);
export const IMPORT_BATCH = spec({
  schema: Type.Object({ rows: Type.Array(ImportRow, { maxItems: IMPORT_BATCH_MAX }), dryRun: Type.Optional(Type.Boolean()), verified: Type.Optional(Type.Boolean()) }, strict),
});

const SERVICE_NAME = 'must be 1 to 64 letters, digits, ".", "_" or "-", from a letter or digit, and not start with "lkc_"';
export const CREATE_SERVICE = spec({
  schema: Type.Object(
    { name: Type.String({ pattern: SERVICE_NAME_PATTERN.source }), scopes: Type.Array(oneOf(SERVICE_SCOPES), { minItems: 1, maxItems: 10 }) },
    strict,
  ),
  messages: { name: SERVICE_NAME, 'scopes.*': `must be among ${SERVICE_SCOPES.join(', ')}` },
});

export const SERVICE = spec({
  schema: Type.Object({ service: Type.String({ minLength: 1, maxLength: 100 }) }, strict),
  trim: ['service'],
  messages: { service: 'must be a service name or client id' },
});

const URIS = Type.Array(Type.String({ minLength: 1, maxLength: 2000 }), { maxItems: 20 });
/** `clients create`: the domain checks each address again (redirectUriProblem), whoever sent it. */
export const CREATE_OAUTH_CLIENT = spec({
  schema: Type.Object(
    {
      name: Type.String({ pattern: OAUTH_CLIENT_NAME_PATTERN.source }),
      redirectUris: Type.Array(Type.String({ minLength: 1, maxLength: 2000 }), { minItems: 1, maxItems: 20 }),
      postLogoutRedirectUris: Type.Optional(URIS),
      backchannelLogoutUri: Type.Optional(Type.String({ minLength: 1, maxLength: 2000 })),
      public: Type.Optional(Type.Boolean()),
      firstParty: Type.Optional(Type.Boolean()),
      jwks: Type.Optional(Type.Object({ keys: Type.Array(Type.Record(Type.String(), Type.Unknown()), { minItems: 1, maxItems: 10 }) })),
    },
    strict,
  ),
  messages: {
    name: 'must be 1 to 64 letters, digits, ".", "_" or "-", from a letter or digit, and not start with "lko_"',
    redirectUris: 'give 1 to 20 redirect URIs',
    jwks: 'must be a JWK Set: {"keys": [1 to 10 public keys]}',
    'jwks.keys': 'must be a JWK Set: {"keys": [1 to 10 public keys]}',
  },
  refine: (a) => (a.public && a.jwks ? 'a public client has no keys: give public or jwks, not both' : undefined),
});

export const OAUTH_CLIENT = spec({
  schema: Type.Object({ client: Type.String({ minLength: 1, maxLength: 100 }) }, strict),
  trim: ['client'],
  messages: { client: 'must be a client name or client id' },
});

export const KEY = spec({
  schema: Type.Object({ kid: Type.String({ minLength: 1, maxLength: KID_MAX_LENGTH }) }, strict),
  trim: ['kid'],
  messages: { kid: 'must be a key id (kid), as `keys list` shows it' },
});

export const ADD_WEBHOOK = spec({
  schema: Type.Object(
    {
      url: Type.String({ maxLength: 2000 }),
      events: Type.Optional(Type.Array(oneOf(EVENT_TYPES), { maxItems: 20 })),
      backchannelAudience: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    },
    strict,
  ),
  trim: ['backchannelAudience'],
  messages: { 'events.*': `must be among ${EVENT_TYPES.join(', ')}` },
  refine: ({ url, events = [], backchannelAudience }) => {
    const problem = checkWebhookUrl(url);
    if (problem) return `url: ${problem}`;
    if (backchannelAudience !== undefined && CONTROL_CHARACTERS.test(backchannelAudience)) return 'backchannelAudience: must not contain control characters';
    if (backchannelAudience === undefined && events.length === 0) return 'events: name at least one event type';
    if (backchannelAudience !== undefined && events.some((e) => e !== 'session.revoked')) return 'events: a back-channel logout endpoint receives session.revoked only';
    return undefined;
  },
});

export const WEBHOOK = spec({ schema: Type.Object({ id: Type.String({ minLength: 1, maxLength: 100 }) }, strict), trim: ['id'] });

export const LIST_DELIVERIES = spec({
  schema: Type.Object(
    {
      status: Type.Optional(oneOf(DELIVERY_STATUSES)),
      endpoint: Type.Optional(Type.String({ maxLength: 100 })),
      limit: Type.Optional(Type.Integer({ minimum: 1, maximum: DELIVERIES_PAGE_MAX })),
    },
    strict,
  ),
});

export const REPLAY = spec({
  schema: Type.Object({ id: Type.Optional(Type.Integer({ minimum: 1 })), dead: Type.Optional(Type.Boolean()) }, strict),
  refine: (a) => ((a.id === undefined) === (a.dead !== true) ? 'give a delivery id or dead, not both' : undefined),
});

const PROVIDER_NAME = 'must be 1 to 32 lower-case letters, digits, "_" or "-", from a letter or digit';
const ScopeItem = Type.String({ pattern: '^[\\x21\\x23-\\x5B\\x5D-\\x7E]{1,200}$' });

/** `providers add`: an OpenID Connect issuer, or GitHub (whose address defaults to https://github.com). */
export const ADD_PROVIDER = spec({
  schema: Type.Object(
    {
      name: Type.String({ pattern: PROVIDER_NAME_PATTERN.source }),
      type: oneOf(UPSTREAM_TYPES),
      issuer: Type.Optional(Type.String({ minLength: 1, maxLength: 500 })),
      clientId: Type.String({ minLength: 1, maxLength: 500 }),
      clientSecret: Type.String({ minLength: 1, maxLength: 2000 }),
      scopes: Type.Optional(Type.Array(ScopeItem, { minItems: 1, maxItems: 20 })),
    },
    strict,
  ),
  trim: ['issuer', 'clientId'],
  messages: { name: PROVIDER_NAME, 'scopes.*': 'must be a scope: printable characters, no space, quote or backslash' },
  refine: ({ name, type, issuer, clientId }) => {
    if (RESERVED_PROVIDER_NAMES.includes(name)) return `name: ${name} is taken by a sign-in route of Latchkey's own`;
    if (issuer === undefined && type === 'oidc') return 'issuer: an OpenID Connect provider needs --issuer';
    const problem = issuer === undefined ? undefined : issuerProblem(issuer);
    if (problem) return `issuer: ${problem}`;
    if (CONTROL_CHARACTERS.test(clientId)) return 'clientId: must not contain control characters';
    return undefined;
  },
});

export const PROVIDER = spec({
  schema: Type.Object({ provider: Type.String({ minLength: 1, maxLength: 100 }) }, strict),
  trim: ['provider'],
  messages: { provider: 'must be a provider name' },
});
