import argon2 from 'argon2';
import type { Config } from '../../config.js';
import { AppError } from '../../errors.js';
import type { BreachCheck } from './breached-passwords.js';
import { isCommonPassword } from './common-passwords.js';
import { isLegacyHash, verifyLegacyHash } from './hash-formats.js';
import { busy, createWorkQueue } from '../../core/work-queue.js';

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  /**
   * Constant-time check; false for a malformed hash rather than an error. Besides argon2id, it checks the
   * imported formats (werkzeug pbkdf2 and scrypt, bcrypt: src/auth/hash-formats.ts).
   */
  verify(hash: string, password: string): Promise<boolean>;
  /** True for an argon2id hash with other parameters than the configured ones, and for any imported format. */
  needsRehash(hash: string): boolean;
  /** Burns the same time as a real verify, for accounts that do not exist. */
  verifyDummy(password: string): Promise<void>;
  /** Throws server_busy now if a hash would be refused: before the database work a sign-in does first. */
  assertCapacity(): void;
}

// The same string is hashed whatever the input form, so "ﬁ" and "fi" are one password.
export function normalizePassword(password: string): string {
  return password.normalize('NFKC');
}

/** Length counts characters (code points) after normalisation, never bytes or UTF-16 units. */
export function passwordLength(password: string): number {
  return [...normalizePassword(password)].length;
}

/** Throws the reason a new password is refused; no composition rules, per NIST SP 800-63B. */
export function assertPasswordAcceptable(password: string, policy: Config['password']): void {
  const length = passwordLength(password);
  if (length < policy.minLength)
    throw new AppError('password_too_short', `The password must be at least ${policy.minLength} characters long.`);
  if (length > policy.maxLength)
    throw new AppError('password_too_long', `The password must be at most ${policy.maxLength} characters long.`);
  if (policy.checkCommon && isCommonPassword(normalizePassword(password))) throw new AppError('password_too_common');
}

/** The whole check of a new password: the local policy first, then the breach API when configured. */
export async function checkNewPassword(
  deps: { config: Pick<Config, 'password'>; breachCheck: BreachCheck | undefined },
  password: string,
): Promise<void> {
  assertPasswordAcceptable(password, deps.config.password);
  if (deps.breachCheck && (await deps.breachCheck(normalizePassword(password)))) throw new AppError('password_breached');
}

export interface HashingLimits {
  /** Hashes and verifies running at once (each holds a thread of libuv's pool and ~19 MiB). */
  concurrency: number;
  /** How many more may wait; past that, `server_busy` at once rather than an ever longer wait. */
  queue: number;
}

/**
 * The password hash of an account that has no password (made by a sign-in through an upstream provider): no password
 * verifies against it, at the cost of a real check, so that the time of a refusal does not tell that it has none. Its
 * owner sets one with a reset link.
 */
export const NO_PASSWORD_HASH = '!none';

/** Whether the account has a password it can sign in with. */
export const hasPassword = (hash: string) => hash !== NO_PASSWORD_HASH;

export function createPasswordHasher(params: Config['password']['argon2'], limits: HashingLimits): PasswordHasher {
  const options: argon2.HashOptions = { type: argon2.argon2id, ...params };
  // Bounded, so that a flood of sign-ins cannot queue unbounded work nor hold every thread of the pool.
  const work = createWorkQueue(limits.concurrency, limits.queue);
  let dummyHash: Promise<string> | undefined;

  const hasher: PasswordHasher = {
    // argon2 runs on libuv's thread pool, off the event loop.
    hash: (password) => work.run(() => argon2.hash(normalizePassword(password), options)),
    verify: (hash, password) =>
      hash === NO_PASSWORD_HASH ? hasher.verifyDummy(password).then(() => false) : work.run(async () => {
        try {
          if (isLegacyHash(hash)) return await verifyLegacyHash(hash, password);
          return await argon2.verify(hash, normalizePassword(password));
        } catch {
          return false;
        }
      }),
    // An imported hash is replaced by argon2id at the first sign-in that proves the password.
    needsRehash: (hash) => isLegacyHash(hash) || argon2.needsRehash(hash, options),
    assertCapacity() {
      if (work.full) throw busy();
    },
    async verifyDummy(password) {
      // Unknown emails pay for a full verify too, so response time does not reveal which accounts exist.
      dummyHash ??= argon2.hash('latchkey-dummy-password', options);
      await hasher.verify(await dummyHash, password);
    },
  };
  return hasher;
}
