import { recordAuditEvent } from '../../core/audit.js';
import type { ClientInfo } from '../../core/client-address.js';
import type { Clock } from '../../core/clock.js';
import type { LinkedIdentity } from '../../contracts/upstream.js';
import type { Db } from '../../db/client.js';
import { countUserPasskeys } from '../../db/queries/passkeys.js';
import { deleteIdentity, insertIdentity, selectIdentitiesOfUser, selectIdentity, touchIdentity } from '../../db/queries/upstream.js';
import { lockUserRow } from '../../db/queries/users.js';
import { AppError } from '../../errors.js';
import { hasPassword, NO_PASSWORD_HASH } from '../passwords/passwords.js';
import { findUserByEmail, findUserById, insertUser, normalizeEmail, type User } from '../users/users.js';
import type { UpstreamIdentity } from './oidc-client.js';

/**
 * Which Latchkey account an upstream identity is. An identity linked before is its account. Otherwise its address
 * decides, and this is where an account could be taken over (an attacker's upstream account claiming a victim's
 * address): it joins the account of that address only when the provider says it verified the address AND the account's
 * own address is verified too. An address with no account gets a new account, with no password (a reset link sets
 * one); an address whose account cannot be joined so is refused with `upstream_account_exists`, which its owner
 * resolves by signing in and linking the provider from /account.
 */

interface IdentityDeps {
  db: Db;
  clock: Clock;
}

const EMAIL_MAX = 254;
const NAME_MAX = 100;

/** A name for a new account: the provider's, or the address's local part, without control characters. */
const nameFor = (identity: UpstreamIdentity, email: string) =>
  (identity.name?.replace(/\p{Cc}/gu, '').trim() || email.split('@')[0] || 'User').slice(0, NAME_MAX);

const failure = (provider: string, reason: string, email?: string, userId?: string) => ({ type: 'signin_failed' as const, userId, email, details: { reason, upstream: provider } });

/** The account a sign-in through `provider` is for: linked, joined, or new (see above); audited when refused. */
export async function accountOfIdentity(deps: IdentityDeps, provider: string, identity: UpstreamIdentity, client: ClientInfo): Promise<User> {
  const now = deps.clock.now();
  const linked = await selectIdentity(deps.db, provider, identity.subject);
  const email = identity.email && identity.email.length <= EMAIL_MAX ? normalizeEmail(identity.email) : undefined;
  if (linked) {
    const user = await findUserById(deps.db, linked.userId);
    if (!user) throw new AppError('upstream_signin_failed');
    await touchIdentity(deps.db, provider, identity.subject, email ?? null, now);
    return user;
  }
  if (!email) {
    await recordAuditEvent(deps.db, deps.clock, { ...failure(provider, 'upstream_email_missing'), client });
    throw new AppError('upstream_email_required');
  }
  const existing = await findUserByEmail(deps.db, email);
  if (existing) {
    // The takeover path: both sides must have proved the address, or nothing is joined.
    if (!identity.emailVerified || !existing.emailVerifiedAt) {
      const reason = identity.emailVerified ? 'account_email_unverified' : 'upstream_email_unverified';
      await recordAuditEvent(deps.db, deps.clock, { ...failure(provider, reason, email, existing.id), client });
      throw new AppError('upstream_account_exists');
    }
    await linkTo(deps, existing, provider, identity, email, client, 'verified_email');
    return existing;
  }
  return createAccount(deps, provider, identity, email, client);
}

async function createAccount(deps: IdentityDeps, provider: string, identity: UpstreamIdentity, email: string, client: ClientInfo): Promise<User> {
  const now = deps.clock.now();
  const stored = { name: nameFor(identity, email), email, passwordHash: NO_PASSWORD_HASH, verified: identity.emailVerified };
  try {
    return await insertUser(deps.db, now, stored, async (tx, user) => {
      await recordAuditEvent(tx, deps.clock, { type: 'signup', userId: user.id, email: user.email, client, details: { upstream: provider } });
      await linkIn(tx, deps.clock, user, provider, identity, email, client, 'new_account');
    });
  } catch (err) {
    // Another sign-in took the address (or the identity) meanwhile: refused as any taken address is.
    if (err instanceof AppError && err.code === 'email_taken') throw new AppError('upstream_account_exists');
    throw err;
  }
}

async function linkIn(tx: Db, clock: Clock, user: User, provider: string, identity: UpstreamIdentity, email: string | null, client: ClientInfo, how: string) {
  const row = { provider, subject: identity.subject, userId: user.id, email, createdAt: clock.now(), lastUsedAt: clock.now() };
  if (!(await insertIdentity(tx, row))) throw new AppError('identity_linked_elsewhere');
  await recordAuditEvent(tx, clock, { type: 'upstream_linked', userId: user.id, email: user.email, client, details: { upstream: provider, subject: identity.subject, how } });
}

function linkTo(deps: IdentityDeps, user: User, provider: string, identity: UpstreamIdentity, email: string | null, client: ClientInfo, how: string) {
  return deps.db.transaction((tx) => linkIn(tx, deps.clock, user, provider, identity, email, client, how));
}

/**
 * Links an identity to a signed-in user who came back from the provider (`/account`): whatever the addresses, since
 * the user proved both sides. Linked to them already: nothing to do; to another account: `identity_linked_elsewhere`.
 */
export async function linkIdentity(deps: IdentityDeps, user: User, provider: string, identity: UpstreamIdentity, client: ClientInfo): Promise<void> {
  const email = identity.email && identity.email.length <= EMAIL_MAX ? normalizeEmail(identity.email) : null;
  const linked = await selectIdentity(deps.db, provider, identity.subject);
  if (linked?.userId === user.id) return touchIdentity(deps.db, provider, identity.subject, email, deps.clock.now());
  if (linked) {
    await recordAuditEvent(deps.db, deps.clock, { type: 'upstream_linked', userId: user.id, email: user.email, client, details: { upstream: provider, refused: 'identity_linked_elsewhere' } });
    throw new AppError('identity_linked_elsewhere');
  }
  await linkTo(deps, user, provider, identity, email, client, 'signed_in');
}

export async function listIdentities(deps: { db: Db }, userId: string): Promise<LinkedIdentity[]> {
  return (await selectIdentitiesOfUser(deps.db, userId)).map((row) => ({
    provider: row.provider,
    subject: row.subject,
    email: row.email,
    created_at: row.createdAt.toISOString(),
    last_used_at: row.lastUsedAt?.toISOString() ?? null,
  }));
}

/**
 * Unlinks one of the user's identities, unless it is the last way they have to sign in: no password (an account made
 * by an upstream sign-in has none until a reset link sets one), no passkey and no other identity. Then
 * `last_sign_in_method`: unlinking would lock them out. Checked under the user's row lock, so two unlinks at once
 * cannot each leave the other as the last. Audited.
 */
export async function unlinkIdentity(deps: IdentityDeps, userId: string, provider: string, subject: string, client: ClientInfo): Promise<void> {
  await deps.db.transaction(async (tx) => {
    const user = await lockUserRow(tx, userId);
    if (!user) throw new AppError('identity_not_found');
    const identities = await selectIdentitiesOfUser(tx, userId);
    if (!identities.some((i) => i.provider === provider && i.subject === subject)) throw new AppError('identity_not_found');
    if (!hasPassword(user.passwordHash) && identities.length === 1 && (await countUserPasskeys(tx, userId)) === 0) throw new AppError('last_sign_in_method');
    await deleteIdentity(tx, userId, provider, subject);
    await recordAuditEvent(tx, deps.clock, { type: 'upstream_unlinked', userId, email: user.email, client, details: { upstream: provider, subject } });
  });
}
