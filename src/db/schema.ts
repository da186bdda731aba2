import { sql } from 'drizzle-orm';
import { bigint, bigserial, boolean, check, index, type AnyPgColumn, integer, jsonb, pgTable, primaryKey, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';

const ts = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

export const users = pgTable('users', {
  id: uuid('id').primaryKey().defaultRandom(),
  name: text('name').notNull(),
  // Stored trimmed and lower-cased, so uniqueness is case-insensitive.
  email: text('email').notNull().unique(),
  passwordHash: text('password_hash').notNull(),
  role: text('role').notNull().default('user'),
  emailVerifiedAt: ts('email_verified_at'),
  passwordChangedAt: ts('password_changed_at'),
  // Sessions opened before this instant are dead: the time of the last credential change (a password
  // reset, a disabled account, a sign-out everywhere), never ahead of the clock. A session opened after it
  // starts at its next whole second at the earliest, so that the `auth_time` of its tokens is not before it.
  notBefore: ts('not_before'),
  // A disabled user cannot sign in, refresh or reset; set by an operator (`latchkey users disable`).
  disabledAt: ts('disabled_at'),
  // The id the user had in the system it was imported from (`latchkey users import`), so that other
  // services can map their old references; null for users who signed up here.
  legacyId: text('legacy_id'),
  // The language of the user's emails (`en`, `fr`), their browser's when they signed up; null: not known, the
  // default. Kept with the user rather than taken from whoever's request causes an email (src/core/email-text.ts).
  locale: text('locale'),
  createdAt: ts('created_at').notNull().defaultNow(),
  updatedAt: ts('updated_at').notNull().defaultNow(),
}, (t) => [
  index('users_legacy_id_idx').on(t.legacyId),
  // The admin API's pages walk users in this order (user-admin.ts, searchUsers).
  index('users_created_at_id_idx').on(t.createdAt, t.id),
]);

export const sessions = pgTable(
  'sessions',
  {
    id: uuid('id').primaryKey(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    createdAt: ts('created_at').notNull(),
    // Absolute end of the session, whatever the rotations (SESSION_MAX_AGE).
    expiresAt: ts('expires_at').notNull(),
    lastRefreshedAt: ts('last_refreshed_at'),
    revokedAt: ts('revoked_at'),
    revokedReason: text('revoked_reason'),
    ipAddress: text('ip_address'),
    userAgent: text('user_agent'),
    // How its user proved who they were (RFC 8176 `amr` values: pwd, otp, mfa), carried by its tokens across
    // refreshes with the assurance level it makes; null for sessions opened before second factors: a password.
    amr: text('amr').array(),
    // Set for a session an OAuth client holds (src/auth/oauth/): the client its tokens were issued to, which alone may
    // refresh them, and the scopes it was granted. Null for Latchkey's own sessions (the API's, the browser's).
    clientId: text('client_id'),
    scope: text('scope'),
    // The browser session whose sign-in authorised this client's session: ending that one ends this one too.
    parentSessionId: uuid('parent_session_id'),
  },
  (t) => [
    index('sessions_user_id_idx').on(t.userId),
    index('sessions_revoked_at_idx').on(t.revokedAt),
    index('sessions_parent_session_id_idx').on(t.parentSessionId).where(sql`parent_session_id IS NOT NULL`),
    index('sessions_client_id_idx').on(t.clientId).where(sql`client_id IS NOT NULL`),
  ],
);

// A user's authenticator app (TOTP, RFC 6238), one at most: pending until a first code confirms it.
export const totpAuthenticators = pgTable('totp_authenticators', {
  userId: uuid('user_id')
    .primaryKey()
    .references(() => users.id, { onDelete: 'cascade' }),
  // The shared secret sealed under a key derived from SECRET_KEY, with the user's id as its context: a copy of the
  // database cannot make codes, nor move a secret to another user.
  secretSealed: text('secret_sealed').notNull(),
  createdAt: ts('created_at').notNull(),
  confirmedAt: ts('confirmed_at'),
  // The time step of the last code accepted: that code and every earlier one are refused from then on.
  lastStep: bigint('last_step', { mode: 'number' }),
});

// A user's recovery codes, each stored as an HMAC under a key derived from SECRET_KEY (never the code), spent once.
export const recoveryCodes = pgTable(
  'recovery_codes',
  {
    codeHash: text('code_hash').primaryKey(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    createdAt: ts('created_at').notNull(),
    usedAt: ts('used_at'),
  },
  (t) => [index('recovery_codes_user_id_idx').on(t.userId)],
);

// A user's passkeys (WebAuthn credentials): the public key alone, never a secret. `counter`: the last signature
// counter seen, which must grow (or stay 0, as synced passkeys send) or the assertion is refused as a clone's.
export const passkeys = pgTable(
  'passkeys',
  {
    id: uuid('id').primaryKey(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    // The credential id as the authenticator gave it, base64url: unique across every user.
    credentialId: text('credential_id').notNull().unique(),
    // The COSE public key, base64url.
    publicKey: text('public_key').notNull(),
    counter: bigint('counter', { mode: 'number' }).notNull().default(0),
    transports: text('transports').array(),
    // Whether the authenticator may sync it to other devices (backup eligible), and whether it is backed up.
    multiDevice: boolean('multi_device').notNull().default(false),
    backedUp: boolean('backed_up').notNull().default(false),
    name: text('name').notNull(),
    createdAt: ts('created_at').notNull(),
    lastUsedAt: ts('last_used_at'),
  },
  (t) => [index('passkeys_user_id_idx').on(t.userId)],
);

// WebAuthn challenges of a signed-in user waiting for their answer: only a challenge's SHA-256, the ceremony it was
// made for and the user it belongs to. Each is taken once, by the statement that deletes it, and only before it
// expires. (Rows of the ceremony `signin`, for nobody, were written before sign-in challenges were signed instead;
// they expire and are purged.)
export const webauthnChallenges = pgTable(
  'webauthn_challenges',
  {
    challengeHash: text('challenge_hash').primaryKey(),
    ceremony: text('ceremony').notNull(),
    userId: uuid('user_id').references(() => users.id, { onDelete: 'cascade' }),
    createdAt: ts('created_at').notNull(),
    expiresAt: ts('expires_at').notNull(),
  },
  (t) => [index('webauthn_challenges_expires_at_idx').on(t.expiresAt), index('webauthn_challenges_user_id_idx').on(t.userId, t.ceremony)],
);

// Passkey sign-in challenges that an answer has spent: their SHA-256 and when they expire, nothing else. A sign-in
// challenge is not stored when it is made (it is signed and carries its expiry: ../auth/mfa/signin-challenges.ts);
// the statement that opens the session inserts this row, so that of every answer to one challenge, on any instance,
// one signs in.
export const spentSigninChallenges = pgTable(
  'spent_signin_challenges',
  {
    challengeHash: text('challenge_hash').primaryKey(),
    expiresAt: ts('expires_at').notNull(),
  },
  (t) => [index('spent_signin_challenges_expires_at_idx').on(t.expiresAt)],
);

// Only the SHA-256 of a refresh token is stored; the token itself exists only in the client's hands.
export const refreshTokens = pgTable(
  'refresh_tokens',
  {
    tokenHash: text('token_hash').primaryKey(),
    sessionId: uuid('session_id')
      .notNull()
      .references(() => sessions.id, { onDelete: 'cascade' }),
    createdAt: ts('created_at').notNull(),
    expiresAt: ts('expires_at').notNull(),
    // Set when this token is exchanged for its successor; a second use after that is reuse.
    rotatedAt: ts('rotated_at'),
    successorHash: text('successor_hash'),
    // The successor token itself, encrypted under a key derived from this (raw) token: a client retrying a
    // lost answer gets the same successor back, while a copy of the database cannot decrypt it.
    successorSealed: text('successor_sealed'),
  },
  (t) => [index('refresh_tokens_session_id_idx').on(t.sessionId)],
);

// Every hashed, expiring, single-use token (a password reset link today; verification, email-change and
// MFA challenges next), told apart by `type`: only the SHA-256 of a token is stored, so a copy of the
// database holds no usable link, and a token consumes only as its own type (src/core/one-time-tokens.ts).
export const oneTimeTokens = pgTable(
  'one_time_tokens',
  {
    tokenHash: text('token_hash').primaryKey(),
    type: text('type').notNull(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    // What a type carries with its token (the new address of an email change); never a secret.
    payload: jsonb('payload'),
    createdAt: ts('created_at').notNull(),
    expiresAt: ts('expires_at').notNull(),
    // Set when the token is consumed, revoked or superseded: from then on it is spent.
    usedAt: ts('used_at'),
    // Wrong codes tried against a short code a person types (a sign-in code); enough of them spend it.
    failedAttempts: integer('failed_attempts').notNull().default(0),
  },
  (t) => [index('one_time_tokens_user_id_type_idx').on(t.userId, t.type)],
);

export const signingKeys = pgTable('signing_keys', {
  kid: text('kid').primaryKey(),
  alg: text('alg').notNull(),
  publicJwk: jsonb('public_jwk').notNull(),
  // The private JWK encrypted with SECRET_KEY, which never lives in the database. A key this server did
  // not seal is never used: whoever can write to the database cannot add a key of their own.
  privateKeySealed: text('private_key_sealed').notNull(),
  // Published in the JWKS from created_at; signs from activates_at until a newer key activates.
  createdAt: ts('created_at').notNull(),
  activatesAt: ts('activates_at').notNull(),
  retiredAt: ts('retired_at'),
  // Set by an emergency revocation: the key left every instance's key set at once and is never loaded again.
  // The row stays (retired too) until its tokens would have expired, so the listing and the revocation feed show it.
  revokedAt: ts('revoked_at'),
});

// Emails waiting to be sent, written in the transaction of the change that causes them.
export const mailOutbox = pgTable(
  'mail_outbox',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    // What to send: a rendered email (recipient, subject, text, html) with nothing secret in it, or an intent
    // ({kind, userId}) rendered at sending time (a reset link is made then). Once sent, only what it was and whom
    // it went to stay (src/core/mail-queue.ts, sentMailReceipt), never a body, link or code; erased when given up.
    message: jsonb('message'),
    createdAt: ts('created_at').notNull(),
    // Past this, the email is no longer worth sending (a reset request an hour old).
    expiresAt: ts('expires_at').notNull(),
    nextAttemptAt: ts('next_attempt_at').notNull(),
    // A worker that claims a message holds it until then; another worker may take it over afterwards.
    lockedUntil: ts('locked_until'),
    attempts: integer('attempts').notNull().default(0),
    lastError: text('last_error'),
    sentAt: ts('sent_at'),
    abandonedAt: ts('abandoned_at'),
  },
  (t) => [index('mail_outbox_pending_idx').on(t.nextAttemptAt).where(sql`sent_at IS NULL AND abandoned_at IS NULL`)],
);

export const auditEvents = pgTable(
  'audit_events',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    occurredAt: ts('occurred_at').notNull(),
    type: text('type').notNull(),
    userId: uuid('user_id').references(() => users.id, { onDelete: 'set null' }),
    // The address a sign-in or reset named, kept even when it has no account.
    email: text('email'),
    sessionId: uuid('session_id'),
    ipAddress: text('ip_address'),
    userAgent: text('user_agent'),
    details: jsonb('details'),
  },
  (t) => [
    index('audit_events_occurred_at_idx').on(t.occurredAt),
    // By type, then time: the console's overview counts one type's events per day (src/db/queries/overview.ts).
    index('audit_events_type_occurred_at_idx').on(t.type, t.occurredAt),
    // The admin's search reads newest first, a page at a time by id: a filter by user, address or actor walks one
    // of these backwards from where the last page ended (a type, the index above). A user's own activity and
    // sign-in addresses use the first.
    index('audit_events_user_id_id_idx').on(t.userId, t.id),
    index('audit_events_email_id_idx').on(t.email, t.id),
    index('audit_events_actor_id_idx').on(sql`(details ->> 'actor')`, t.id),
  ],
);

// Other services that call Latchkey (the revocation feed), each with its client id and scopes. Only the
// SHA-256 of the secret is stored (it is 256 random bits, like a refresh token): it is shown once, at
// creation or rotation.
export const serviceClients = pgTable('service_clients', {
  clientId: text('client_id').primaryKey(),
  name: text('name').notNull().unique(),
  secretHash: text('secret_hash').notNull(),
  scopes: text('scopes').array().notNull(),
  createdAt: ts('created_at').notNull(),
  secretRotatedAt: ts('secret_rotated_at'),
});

// What happened to users and sessions, written in the transaction of the change (src/core/events.ts):
// the outbox that webhooks are delivered from. No foreign key: a user.deleted event outlives its user.
export const events = pgTable(
  'events',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    type: text('type').notNull(),
    userId: uuid('user_id'),
    // The user's public fields for user.* (never a hash), {sid, sub, reason} for session.revoked.
    data: jsonb('data').notNull(),
    createdAt: ts('created_at').notNull(),
  },
  (t) => [index('events_created_at_idx').on(t.createdAt)],
);

// Where events are posted. The signing secret is sealed with a key derived from SECRET_KEY, like the
// private signing keys: it is shown once, at creation, and a copy of the database cannot sign with it.
export const webhookEndpoints = pgTable(
  'webhook_endpoints',
  {
    id: text('id').primaryKey(),
    url: text('url').notNull(),
    eventTypes: text('event_types').array().notNull(),
    // Null only for an OAuth client's back-channel logout endpoint, which is sent the logout token alone, unsigned
    // by a webhook secret (the token is signed).
    secretSealed: text('secret_sealed'),
    // Set for an OIDC back-channel logout receiver: the `aud` of its logout tokens (a client id).
    backchannelAudience: text('backchannel_audience'),
    // Set for the endpoint an OAuth client's backchannel_logout_uri makes (src/auth/oauth/backchannel.ts): not listed
    // among the webhooks, created and removed with its client, and sent only the ends of that client's own sessions.
    oauthClientId: text('oauth_client_id')
      .unique()
      .references((): AnyPgColumn => oauthClients.clientId, { onDelete: 'cascade' }),
    createdAt: ts('created_at').notNull(),
    disabledAt: ts('disabled_at'),
  },
  (t) => [check('webhook_endpoints_secret_check', sql`${t.secretSealed} IS NOT NULL OR ${t.oauthClientId} IS NOT NULL`)],
);

// One event for one endpoint, written with the event (the endpoints subscribed to its type then).
export const webhookDeliveries = pgTable(
  'webhook_deliveries',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    endpointId: text('endpoint_id')
      .notNull()
      .references(() => webhookEndpoints.id, { onDelete: 'cascade' }),
    eventId: bigint('event_id', { mode: 'number' })
      .notNull()
      .references(() => events.id, { onDelete: 'cascade' }),
    // The event's user, copied: a user's deliveries to one endpoint go out one at a time, in order.
    userId: uuid('user_id'),
    // pending, delivered or dead.
    status: text('status').notNull().default('pending'),
    attempts: integer('attempts').notNull().default(0),
    createdAt: ts('created_at').notNull(),
    nextAttemptAt: ts('next_attempt_at').notNull(),
    // An instance that claims a delivery holds it until then; another may take it over afterwards.
    lockedUntil: ts('locked_until'),
    lastStatus: integer('last_status'),
    lastError: text('last_error'),
    deliveredAt: ts('delivered_at'),
  },
  (t) => [
    uniqueIndex('webhook_deliveries_endpoint_event_idx').on(t.endpointId, t.eventId),
    index('webhook_deliveries_event_id_idx').on(t.eventId),
    index('webhook_deliveries_pending_idx').on(t.endpointId, t.userId, t.id).where(sql`status = 'pending'`),
    index('webhook_deliveries_due_idx').on(t.nextAttemptAt).where(sql`status = 'pending'`),
    // The dead ones, few among many delivered: counted per endpoint, listed and replayed from the console.
    index('webhook_deliveries_dead_idx').on(t.endpointId, t.id).where(sql`status = 'dead'`),
  ],
);

// The applications that sign their users in through Latchkey with OpenID Connect (src/auth/oauth/). A confidential
// client's secret is stored as its SHA-256 only (a random 32 bytes: no hash to slow down); a public client has none and
// proves each code with PKCE alone. Redirect URIs are compared exactly.
export const oauthClients = pgTable('oauth_clients', {
  clientId: text('client_id').primaryKey(),
  name: text('name').notNull().unique(),
  secretHash: text('secret_hash'),
  redirectUris: text('redirect_uris').array().notNull(),
  postLogoutRedirectUris: text('post_logout_redirect_uris').array().notNull().default(sql`'{}'::text[]`),
  backchannelLogoutUri: text('backchannel_logout_uri'),
  // A client of the same organisation: no consent page.
  firstParty: boolean('first_party').notNull().default(false),
  // The public keys of a client that authenticates with a signed JWT (private_key_jwt), as a JWK Set.
  jwks: jsonb('jwks'),
  createdAt: ts('created_at').notNull(),
  secretRotatedAt: ts('secret_rotated_at'),
});

// The ids (`jti`) of the signed assertions clients authenticated with (private_key_jwt) until they expire: each works once.
export const oauthClientAssertions = pgTable(
  'oauth_client_assertions',
  {
    clientId: text('client_id').notNull(),
    jti: text('jti').notNull(),
    expiresAt: ts('expires_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.clientId, t.jti] }), index('oauth_client_assertions_expires_at_idx').on(t.expiresAt)],
);

// The scopes a user allowed a third-party client, so that the consent page is asked once; revocable from /account.
export const oauthConsents = pgTable(
  'oauth_consents',
  {
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    clientId: text('client_id')
      .notNull()
      .references(() => oauthClients.clientId, { onDelete: 'cascade' }),
    scopes: text('scopes').array().notNull(),
    grantedAt: ts('granted_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.userId, t.clientId] })],
);

// Other identity providers users may sign in with (an OpenID Connect issuer, or GitHub): the client Latchkey is to
// them, its secret sealed under SECRET_KEY like the signing keys.
export const upstreamProviders = pgTable('upstream_providers', {
  name: text('name').primaryKey(),
  // oidc or github.
  type: text('type').notNull(),
  issuer: text('issuer'),
  clientId: text('client_id').notNull(),
  clientSecretSealed: text('client_secret_sealed'),
  scopes: text('scopes').array().notNull(),
  createdAt: ts('created_at').notNull(),
  updatedAt: ts('updated_at').notNull(),
});

// A user's account at an upstream provider, linked to their Latchkey account: the provider's stable subject, never
// its address (an address can change hands).
export const userIdentities = pgTable(
  'user_identities',
  {
    provider: text('provider')
      .notNull()
      .references(() => upstreamProviders.name, { onDelete: 'cascade' }),
    subject: text('subject').notNull(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    // The address the provider gave at the last sign-in, for the user to recognise the link by.
    email: text('email'),
    createdAt: ts('created_at').notNull(),
    lastUsedAt: ts('last_used_at'),
  },
  (t) => [primaryKey({ columns: [t.provider, t.subject] }), index('user_identities_user_id_idx').on(t.userId)],
);

// The `state` of each sign-in through an upstream provider that came back, kept (as its SHA-256) until the flow
// would have expired anyway: a second callback with the same state is refused on every instance, whatever cookie
// and code it brings. The flow itself lives in a sealed cookie of the browser that started it.
export const upstreamSpentStates = pgTable(
  'upstream_spent_states',
  {
    stateHash: text('state_hash').primaryKey(),
    expiresAt: ts('expires_at').notNull(),
  },
  (t) => [index('upstream_spent_states_expires_at_idx').on(t.expiresAt)],
);
