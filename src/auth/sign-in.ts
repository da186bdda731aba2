import { eq } from 'drizzle-orm';
import type { Deps } from '../deps.js';
import { users } from '../db/schema.js';
import { AppError } from '../errors.js';
import { createSession, type ClientInfo, type TokenPair } from './sessions.js';
import { findUserByEmail, type User } from './users.js';

/** Checks a password and opens a fresh session. Unknown email and wrong password fail identically. */
export async function signIn(
  deps: Deps,
  credentials: { email: string; password: string },
  client: ClientInfo,
): Promise<{ user: User; tokens: TokenPair }> {
  const user = await findUserByEmail(deps.db, credentials.email);
  if (!user) {
    await deps.passwords.verifyDummy(credentials.password);
    throw new AppError('invalid_credentials');
  }
  if (!(await deps.passwords.verify(user.passwordHash, credentials.password))) throw new AppError('invalid_credentials');
  if (deps.passwords.needsRehash(user.passwordHash)) await upgradePasswordHash(deps, user, credentials.password);
  const tokens = await createSession(deps, user.id, client);
  return { user, tokens };
}

// Hashes made with older parameters are replaced while the plain password is at hand.
async function upgradePasswordHash(deps: Deps, user: User, password: string) {
  try {
    const passwordHash = await deps.passwords.hash(password);
    await deps.db.update(users).set({ passwordHash }).where(eq(users.id, user.id));
  } catch (err) {
    deps.logger.warn({ err: (err as Error).message, userId: user.id }, 'password hash upgrade failed');
  }
}
