import type { ClientInfo } from '../../core/client-address.js';
import { AppError } from '../../errors.js';
import { verifyEmailToken, type Verified } from '../verification/email-verification.js';
import { confirmEmailChange, type EmailChangeDeps } from './email-change.js';
import { isVerificationTokenUsable } from '../verification/email-verification.js';
import { isEmailChangeTokenUsable } from './email-change.js';

/**
 * The links emailed to prove an address open one page and POST to one route (`/api/verify-email`): a
 * verification link, or the confirmation of an email change. Each is tried as its own type; anything else is
 * `400 invalid_verification_token`.
 */
export async function followEmailLink(deps: EmailChangeDeps, token: string, client: ClientInfo = {}): Promise<Verified> {
  const done = (await verifyEmailToken(deps, token, client)) ?? (await confirmEmailChange(deps, token, client));
  if (!done) throw new AppError('invalid_verification_token');
  return done;
}

/** Whether a link of either kind can still be used, for the page it opens. */
export async function isEmailLinkUsable(deps: Pick<EmailChangeDeps, 'db' | 'clock'>, token: string): Promise<boolean> {
  return (await isVerificationTokenUsable(deps, token)) || (await isEmailChangeTokenUsable(deps, token));
}
