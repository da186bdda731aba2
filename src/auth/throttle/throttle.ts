import cluster from 'node:cluster';
import type { Redis } from 'ioredis';
import { RateLimiterCluster, RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { Config, RateLimit } from '../../config.js';
import { AppError, throttled } from '../../errors.js';
import { noMetrics, type Limiter as LimiterName, type Metrics } from '../../core/metrics.js';
import { LocalLimiter, type Limiter } from './local-limiter.js';

export type AddressAction = 'signin' | 'signup' | 'refresh' | 'forgot' | 'reset' | 'verify' | 'passkey';

/**
 * Request budgets per client address and per account. With Redis the counters are shared by every
 * instance; when Redis is unreachable each instance falls back to its own in-memory counters (so
 * limits loosen to per instance, never off) and goes back to Redis when it returns. Without Redis,
 * the processes of one instance (WORKERS) share counters kept by their supervising process, and a
 * single process keeps its own in LocalLimiters (bounded, no timer per key).
 */
export interface Throttle {
  /** Throws 429 too_many_requests when the address has used up its budget for the action. */
  limitAddress(action: AddressAction, address: string): Promise<void>;
  /** Throws 429 too_many_requests when one account key (an email, a reset token) is hammered. */
  limitAccount(action: AccountAction, key: string): Promise<void>;
  /** Gives back a point of `limitAccount` for an attempt the server could not serve (server_busy). */
  refundAccount(action: AccountAction, key: string): Promise<void>;
  /**
   * The budget of all clients together (every instance, with Redis): throws 503 server_busy past it, so
   * that a flood from many addresses, none over its own limit, still cannot take every password check.
   * Spent only by requests about to check or hash a password. The wide network (an IPv4 /24, an IPv6
   * /48) spends its share first, and past that share is refused the same way without spending the rest,
   * so that one network cannot take all of it.
   */
  limitGlobal(action: 'signin' | 'signup', wideNetwork: string | undefined): Promise<void>;
  /**
   * Counts a sign-in attempt on an account before its password is checked, so even parallel guesses
   * are counted. Past the threshold the account locks, each lock twice as long as the one before.
   * Throws 429 too_many_attempts while locked; `onLock` runs when a new lock starts.
   */
  beginSignin(email: string, onLock?: (seconds: number) => void): Promise<void>;
  /** A correct password clears the attempt count (the growing lock length is kept for a day). */
  signinSucceeded(email: string): Promise<void>;
  /** Gives back the attempt of a sign-in the server could not serve (server_busy): it proved nothing. */
  refundSignin(email: string): Promise<void>;
  /** A completed password reset lifts any lock. */
  unlockAccount(email: string): Promise<void>;
  /**
   * Whether one more reset email may go to this address; over the quota, none is sent, silently. Each
   * client network has its own quota per address, so strangers cannot use up the owner's; unknown
   * clients also share one quota per address, so many networks together cannot flood its mailbox.
   */
  allowResetMail(email: string, client: { network: string; known: boolean }): Promise<boolean>;
  /**
   * Whether a sign-in to a locked account from this wide network may still have its password checked
   * (RATE_LIMIT_LOCKED_SIGNIN, every account together): a right one gets its owner a sign-in code.
   */
  allowLockedSignin(wideNetwork: string): Promise<boolean>;
  /** Whether one more sign-in code may be emailed to this account (SIGNIN_CODE_MAIL_LIMIT). */
  allowSigninCodeMail(userId: string): Promise<boolean>;
  /**
   * Whether one more verification or email-change email may go out (VERIFICATION_MAIL_LIMIT): each key (the
   * address, the account) is counted, and all must allow it. Not counted in the metrics: whether an address
   * has an account must not show there.
   */
  allowVerificationMail(keys: string[]): Promise<boolean>;
  /** Whether one more new sign-in email may go to this account (one per 10 minutes): no mailbox flood. */
  allowNewSigninMail(userId: string): Promise<boolean>;
}

/**
 * What `limitAccount` counts: sign-ups of one address, tries of one reset token, verification codes tried on one
 * address, second-factor codes tried on one account (keyed by its id).
 */
export type AccountAction = 'signupEmail' | 'resetToken' | 'verifyCode' | 'mfaCode';

// A new sign-in email per account within this window at most: whoever signs in from many places at once learns
// of it from the first.
const NEW_SIGNIN_MAIL_LIMIT = { points: 1, seconds: 600 };

const LOCK_LEVEL_MEMORY = 86_400;
const ACCOUNT_LIMITERS = { signupEmail: 'signup_email', resetToken: 'reset_token', verifyCode: 'verify_code', mfaCode: 'mfa_code' } as const satisfies Record<string, LimiterName>;
const ATTEMPT_WINDOW = 3_600;

type MakeLimiter = (name: string, limit: RateLimit) => Limiter;

/** Limiters in Redis (with an in-memory stand-in while it is away), shared by a cluster's workers, or local. */
function limiterMaker(redis: Redis | undefined, keyPrefix: string): MakeLimiter {
  return (name, limit) => {
    const opts = { keyPrefix: `${keyPrefix}${name}`, points: limit.points, duration: limit.seconds };
    if (!redis) return cluster.isWorker ? new RateLimiterCluster({ ...opts, timeoutMs: 3_000 }) : new LocalLimiter(opts);
    return new RateLimiterRedis({
      ...opts,
      storeClient: redis,
      rejectIfRedisNotReady: true,
      insuranceLimiter: new RateLimiterMemory(opts),
    });
  };
}

/** Spends one point; resolves with the refusal when the budget is used up (store failures still throw). */
async function spend(limiter: Limiter, key: string): Promise<RateLimiterRes | undefined> {
  try {
    await limiter.consume(key);
    return undefined;
  } catch (res) {
    if (res instanceof RateLimiterRes) return res;
    throw res;
  }
}

type SigninLock = Pick<Throttle, 'beginSignin' | 'signinSucceeded' | 'refundSignin' | 'unlockAccount'>;

/** The account lockout: attempts counted per account, each new lock twice as long as the one before. */
function createSigninLock(make: MakeLimiter, lockout: Config['lockout']): SigninLock {
  const { threshold, duration, maxDuration } = lockout;
  const attempts = make('acct:signin', { points: threshold, seconds: ATTEMPT_WINDOW });
  const lockLevels = make('acct:signin-level', { points: 10_000, seconds: LOCK_LEVEL_MEMORY });
  return {
    async beginSignin(email, onLock) {
      const refused = await spend(attempts, email);
      if (!refused) return;
      // Exactly one attempt crosses the threshold (the counter is atomic): it starts the lock.
      if (refused.consumedPoints !== threshold + 1) throw throttled('too_many_attempts', refused.msBeforeNext);
      const level = (await lockLevels.penalty(email, 1)).consumedPoints;
      const seconds = Math.min(duration * 2 ** (level - 1), maxDuration);
      await attempts.block(email, seconds);
      onLock?.(seconds);
      throw throttled('too_many_attempts', seconds * 1000);
    },
    async signinSucceeded(email) {
      await attempts.delete(email);
    },
    async refundSignin(email) {
      await attempts.reward(email, 1);
    },
    async unlockAccount(email) {
      await Promise.all([attempts.delete(email), lockLevels.delete(email)]);
    },
  };
}

export function createThrottle(
  config: Pick<Config, 'rateLimits' | 'lockout'>,
  redis: Redis | undefined,
  keyPrefix: string,
  metrics: Pick<Metrics, 'throttled'> = noMetrics,
): Throttle {
  const make = limiterMaker(redis, keyPrefix);
  const limits = config.rateLimits;
  const byAddress = Object.fromEntries(
    (['signin', 'signup', 'refresh', 'forgot', 'reset', 'verify', 'passkey'] as const).map((a) => [a, make(`addr:${a}`, limits[a])]),
  ) as Record<AddressAction, Limiter>;
  const byAccount = {
    signupEmail: make('acct:signup', limits.signupEmail),
    resetToken: make('acct:reset-token', limits.resetToken),
    verifyCode: make('acct:verify-code', limits.verifyCode),
    mfaCode: make('acct:mfa-code', limits.mfaCode),
  };
  const globally = { signin: make('global:signin', limits.signinGlobal), signup: make('global:signup', limits.signupGlobal) };
  const perNetwork = { signin: make('global:signin-net', limits.signinNetwork), signup: make('global:signup-net', limits.signupNetwork) };
  const resetMail = make('acct:reset-mail', limits.resetMail);
  const resetMailAccount = make('acct:reset-mail-all', limits.resetMailAccount);
  const lockedSignin = make('net:locked-signin', limits.lockedSignin);
  const signinCodeMail = make('acct:signin-code-mail', limits.signinCodeMail);
  const verificationMail = make('acct:verification-mail', limits.verificationMail);
  const newSigninMail = make('acct:new-signin-mail', NEW_SIGNIN_MAIL_LIMIT);

  function busy(refused: RateLimiterRes, name: LimiterName): AppError {
    metrics.throttled(name);
    const err = new AppError('server_busy');
    err.retryAfter = Math.max(1, Math.ceil(refused.msBeforeNext / 1000));
    return err;
  }

  async function consume(limiter: Limiter, key: string, name: LimiterName) {
    const refused = await spend(limiter, key);
    if (!refused) return;
    metrics.throttled(name);
    throw throttled('too_many_requests', refused.msBeforeNext);
  }

  return {
    async limitAddress(action, address) {
      await consume(byAddress[action], address, action);
    },
    async limitAccount(action, key) {
      await consume(byAccount[action], key, ACCOUNT_LIMITERS[action]);
    },
    async refundAccount(action, key) {
      await byAccount[action].reward(key, 1);
    },
    async limitGlobal(action, wideNetwork) {
      if (wideNetwork !== undefined) {
        const refused = await spend(perNetwork[action], wideNetwork);
        if (refused) throw busy(refused, `${action}_network`);
      }
      const refusedToAll = await spend(globally[action], 'all');
      if (refusedToAll) throw busy(refusedToAll, `${action}_global`);
    },
    ...createSigninLock(make, config.lockout),
    async allowResetMail(email, client) {
      if ((await spend(resetMail, `${email} ${client.network}`)) !== undefined) {
        metrics.throttled('reset_mail');
        return false;
      }
      if (client.known || (await spend(resetMailAccount, email)) === undefined) return true;
      metrics.throttled('reset_mail_account');
      return false;
    },
    async allowLockedSignin(wideNetwork) {
      if ((await spend(lockedSignin, wideNetwork)) === undefined) return true;
      metrics.throttled('signin_locked');
      return false;
    },
    async allowSigninCodeMail(userId) {
      // Not counted in the metrics: it is asked only once a password proved right, so a count that moved
      // would tell whoever reads the metrics that a guess at a locked account was right.
      return (await spend(signinCodeMail, userId)) === undefined;
    },
    allowVerificationMail: async (keys) => (await Promise.all(keys.map((key) => spend(verificationMail, key)))).every((r) => r === undefined),
    allowNewSigninMail: async (userId) => (await spend(newSigninMail, userId)) === undefined,
  };
}
