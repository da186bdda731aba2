import type { Clock } from '../../core/clock.js';
import type { Config } from '../../config.js';
import type { BreachCheck } from '../passwords/breached-passwords.js';
import type { PasswordHasher } from '../passwords/passwords.js';
import type { Throttle } from '../throttle/throttle.js';
import type { Db } from '../../db/client.js';
import { insertUserRow, selectUserByEmail, selectUserById, selectUserOfSession, type UserRow } from '../../db/queries/users.js';
import { AppError } from '../../errors.js';
import { recordAuditEvent } from '../../core/audit.js';
import { recordEvents, userEvent } from '../../core/events.js';
import { checkNewPassword } from '../passwords/passwords.js';
import type { ClientInfo } from '../../core/client-address.js';
import type { PublicUser } from '../../contracts/users.js';
import { isUuid } from '../../contracts/ids.js';
import type { UserCache } from '../../core/user-cache.js';
import type { Locale } from '../../i18n/locale.js';

export type User = UserRow;

export type { PublicUser };

export function toPublicUser(user: Pick<User, 'id' | 'name' | 'email' | 'emailVerifiedAt' | 'createdAt'>): PublicUser {
  return { id: user.id, name: user.name, email: user.email, email_verified: user.emailVerifiedAt !== null, created_at: user.createdAt.toISOString() };
}

/**
 * The public profile of the user of a session, served from memory when it was read for that session in
 * the last 30 seconds; undefined when the user is gone or the session was never theirs (a token signed for
 * a session id that was never created gets nothing). The session's own revocation is checked before, in memory.
 */
export async function getSessionUser(
  deps: { db: Db; clock: Pick<Clock, 'now'>; profiles: UserCache<PublicUser> },
  session: { userId: string; sessionId: string },
): Promise<PublicUser | undefined> {
  const cached = deps.profiles.get(session.userId, session.sessionId);
  if (cached) return cached;
  if (!isUuid(session.userId) || !isUuid(session.sessionId)) return undefined;
  const readAt = deps.clock.now().getTime();
  const user = await selectUserOfSession(deps.db, session.userId, session.sessionId);
  if (!user) return undefined;
  const profile = toPublicUser(user);
  deps.profiles.set(session.userId, session.sessionId, profile, readAt);
  return profile;
}

/** Emails are compared and stored trimmed and lower-cased: one account per address, whatever its case. */
/**
 * The stamp of a user's credentials: when the password last changed and their not-before (a reset, a sign-out
 * everywhere). A token issued on a password check carries the stamp read with the verified hash, and works only
 * while the user's stamp is still that one: a credential change that landed during the check ends it too.
 */
export const credentialStamp = (user: Pick<User, 'passwordChangedAt' | 'notBefore'>): string =>
  `${user.passwordChangedAt?.getTime() ?? '-'} ${user.notBefore?.getTime() ?? '-'}`;

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

export async function createUser(
  deps: { db: Db; clock: Clock; passwords: PasswordHasher; config: Config; throttle: Throttle; breachCheck: BreachCheck | undefined },
  input: { name: string; email: string; password: string; locale?: Locale | undefined },
  client: ClientInfo = {},
  inTransaction?: (tx: Db, user: User) => Promise<void>,
): Promise<User> {
  await checkNewPassword(deps, input.password);
  deps.passwords.assertCapacity();
  // Counted only once the password passes: refused attempts must not use up the owner's sign-ups.
  await deps.throttle.limitAccount('signupEmail', normalizeEmail(input.email));
  // The global budget, too, is spent only by sign-ups about to be hashed.
  const hashed = deps.throttle.limitGlobal('signup', client.wideNetwork).then(() => deps.passwords.hash(input.password));
  const passwordHash = await hashed.catch(async (err: unknown) => {
    if (err instanceof AppError && err.code === 'server_busy') await deps.throttle.refundAccount('signupEmail', normalizeEmail(input.email));
    throw err;
  });
  const stored = { name: input.name, email: input.email, passwordHash, locale: input.locale };
  return insertUser(deps.db, deps.clock.now(), stored, async (tx, user) => {
    await recordAuditEvent(tx, deps.clock, { type: 'signup', userId: user.id, email: user.email, client });
    await inTransaction?.(tx, user);
  });
}

/**
 * Stores a new user whose password was checked and hashed; `email_taken` if the address has an account.
 * `inTransaction` runs in the same transaction once the user is stored (to audit the change).
 */
export async function insertUser(
  db: Db,
  now: Date,
  input: { name: string; email: string; passwordHash: string; role?: 'user' | 'admin'; verified?: boolean; locale?: Locale | undefined },
  inTransaction?: (tx: Db, user: User) => Promise<void>,
): Promise<User> {
  // The unique index decides between simultaneous sign-ups of one address: exactly one insert lands.
  return db.transaction(async (tx) => {
    const user = await insertUserRow(tx, {
      name: input.name.trim(),
      email: normalizeEmail(input.email),
      passwordHash: input.passwordHash,
      role: input.role ?? 'user',
      now,
      emailVerifiedAt: input.verified ? now : null,
      locale: input.locale ?? null,
    });
    if (!user) throw new AppError('email_taken');
    await recordEvents(tx, [userEvent('user.created', user)], now);
    await inTransaction?.(tx, user);
    return user;
  });
}

export async function findUserByEmail(db: Db, email: string): Promise<User | undefined> {
  return selectUserByEmail(db, normalizeEmail(email));
}

export async function findUserById(db: Db, id: string): Promise<User | undefined> {
  if (!isUuid(id)) return undefined;
  return selectUserById(db, id);
}
