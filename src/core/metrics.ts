import { AppError, type ErrorCode } from '../errors.js';

// Every label value is one of these closed sets: no email, token or address ever becomes a label.
export const SIGNIN_OUTCOMES = ['success', 'invalid_credentials', 'locked', 'server_busy', 'mfa_required', 'mfa_enrollment_required', 'invalid_mfa_code', 'invalid_passkey', 'error'] as const;
export const REFRESH_OUTCOMES = ['rotated', 'retried', 'reuse_detected', 'invalid', 'error'] as const;
export const WEBHOOK_OUTCOMES = ['delivered', 'failed', 'dead'] as const;
/** The route label of requests no route matched (404s, malformed URLs). */
export const UNMATCHED_ROUTE = 'unmatched';
export const LIMITERS = [
  'signin',
  'signup',
  'refresh',
  'forgot',
  'reset',
  'signin_global',
  'signup_global',
  'signin_network',
  'signup_network',
  'signin_locked',
  'signup_email',
  'reset_token',
  'reset_mail',
  'reset_mail_account',
  'verify',
  'verify_code',
  'mfa_code',
  'passkey',
] as const;

export type SigninOutcome = (typeof SIGNIN_OUTCOMES)[number];
export type RefreshOutcome = (typeof REFRESH_OUTCOMES)[number];
export type WebhookOutcome = (typeof WEBHOOK_OUTCOMES)[number];
export type Limiter = (typeof LIMITERS)[number];

/**
 * What the domain reports as it works. Never what differs between an address with an account and one
 * without: the emails themselves are not counted (a reset email leaves only for an existing account). The domain sees only this interface: with metrics off it is
 * `noMetrics`; with them on, counters of a Prometheus registry (src/metrics/registry.ts).
 */
export interface Metrics {
  signin(outcome: SigninOutcome): void;
  refresh(outcome: RefreshOutcome): void;
  /** A rate limiter said no (account locks are sign-in outcomes instead). */
  throttled(limiter: Limiter): void;
  /** One webhook delivery attempt: delivered (2xx), failed (to be retried), dead (failed for WEBHOOK_RETRY_FOR). */
  webhookDelivery(outcome: WebhookOutcome): void;
}

export const noMetrics: Metrics = {
  signin: () => {},
  refresh: () => {},
  throttled: () => {},
  webhookDelivery: () => {},
};

/** The outcome a failure counts as: its error code's name when the operation has one for it, else `error`. */
export function outcomeOf<T extends string>(err: unknown, byCode: Partial<Record<ErrorCode, T>>): T | 'error' {
  return (err instanceof AppError && byCode[err.code]) || 'error';
}

/**
 * Runs `work` and counts how it went with `count`: the outcome it resolves with beside its result, or the one
 * its failure's error code maps to in `failures` (`error` for any other).
 */
export async function countOutcome<T, O extends string>(
  count: (outcome: O | 'error') => void,
  failures: Partial<Record<ErrorCode, O>>,
  work: () => Promise<[T, O]>,
): Promise<T> {
  try {
    const [result, outcome] = await work();
    count(outcome);
    return result;
  } catch (err) {
    count(outcomeOf(err, failures));
    throw err;
  }
}
