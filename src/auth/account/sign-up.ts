import type { BreachCheck } from '../passwords/breached-passwords.js';
import type { PasswordHasher } from '../passwords/passwords.js';
import type { Throttle } from '../throttle/throttle.js';
import type { Clock } from '../../core/clock.js';
import type { Config } from '../../config.js';
import type { Db } from '../../db/client.js';
import type { ClientInfo } from '../../core/client-address.js';
import type { Locale } from '../../i18n/locale.js';
import { createUser, type User } from '../users/users.js';
import { queueVerificationIntent } from '../verification/verification-mail.js';

/**
 * Sign-up: the account (src/auth/users/users.ts), and the email that verifies its address, queued in the same
 * transaction: it goes out if and only if the account exists.
 */
export async function signUp(
  deps: { db: Db; clock: Clock; passwords: PasswordHasher; config: Config; throttle: Throttle; breachCheck: BreachCheck | undefined; outbox: { wake(): void } },
  /** `locale`: the language of the user's emails, their browser's (`Accept-Language`). */
  input: { name: string; email: string; password: string; locale?: Locale | undefined },
  client: ClientInfo = {},
): Promise<User> {
  const user = await createUser(deps, input, client, (tx, created) =>
    queueVerificationIntent(tx, created.id, deps.clock.now(), deps.config.ttl.emailVerification),
  );
  deps.outbox.wake();
  return user;
}
