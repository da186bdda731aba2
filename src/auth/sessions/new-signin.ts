import type { Clock } from '../../core/clock.js';
import type { Config } from '../../config.js';
import type { Db } from '../../db/client.js';
import type { Throttle } from '../throttle/throttle.js';
import { selectSigninOrigins, type SigninOrigin } from '../../db/queries/known-clients.js';
import { isInNetwork, type ClientInfo } from '../../core/client-address.js';
import { enqueueNotice } from '../../core/mail-queue.js';
import type { Recipient } from '../../core/email-text.js';
import { describeDevice, deviceParts } from './devices.js';
import { newSigninEmail } from './emails.js';

/** A sign-in from a device and network the account has not signed in from within this long gets an email. */
export const NEW_SIGNIN_WINDOW_SECONDS = 90 * 86_400;
// Earlier places looked at: an owner's devices times their networks; past that, the oldest count as unseen.
const ORIGINS = 100;

export interface NewSigninDeps {
  db: Db;
  clock: Clock;
  config: Config;
  throttle: Throttle;
  outbox: { wake(): void };
}

/** Whether one of the earlier sign-ins came, within the window, from this network and the same device. */
function seenBefore(origins: SigninOrigin[], client: ClientInfo, device: string, since: Date): boolean {
  const network = client.network;
  if (!network) return false;
  return origins.some(
    (o) => new Date(o.last) > since && o.ip_address !== null && isInNetwork(o.ip_address, network) && describeDevice(o.user_agent) === device,
  );
}

/**
 * Emails the user when a sign-in (the session `sessionId`, just opened) comes from a device and a network not
 * seen together in an earlier sign-in within NEW_SIGNIN_WINDOW_SECONDS: its device (as `describeDevice` says),
 * address and time, never anything secret. Not on an account's first sign-in, nor when NOTIFY_NEW_SIGN_IN is
 * off; at most one such email per account within the throttle's window. Read from the audit log (one query on
 * the user's events); called after the answer, so the sign-in never waits for it. Whether it queued an email.
 */
export async function notifyNewSignin(deps: NewSigninDeps, user: Recipient & { id: string }, sessionId: string, client: ClientInfo): Promise<boolean> {
  if (!deps.config.mail.notifyNewSignIn) return false;
  const origins = await selectSigninOrigins(deps.db, user.id, sessionId, ORIGINS);
  // The account's first sign-in: there is nothing to compare it with, and its owner just made it.
  if (origins.length === 0) return false;
  const now = deps.clock.now();
  const device = describeDevice(client.userAgent);
  if (seenBefore(origins, client, device, new Date(now.getTime() - NEW_SIGNIN_WINDOW_SECONDS * 1000))) return false;
  if (!(await deps.throttle.allowNewSigninMail(user.id))) return false;
  const email = newSigninEmail(user, { device: deviceParts(client.userAgent), ipAddress: client.ipAddress, at: now });
  await enqueueNotice(deps.db, email, now);
  deps.outbox.wake();
  return true;
}
