import { NO_USER_ID } from '../../contracts/ids.js';
import type { Clock } from '../../core/clock.js';
import type { Db } from '../../db/client.js';
import { selectSigninAddresses } from '../../db/queries/known-clients.js';
import { isInNetwork } from '../../core/client-address.js';

// Enough for an owner's home, office, phone and travels; an account signed in from more is not "owned".
const RECENT_ADDRESSES = 50;

/**
 * Whether this client's network signed in to this user's account within the last `withinSeconds`: a
 * client the owner has used. Throttling keeps such clients apart from strangers, so that strangers'
 * failures cannot lock the owner out (OWASP's "lock out unknown clients only"). Read from the audit log,
 * which outlives the sessions themselves (AUDIT_RETENTION).
 */
export async function isKnownClient(
  deps: { db: Db; clock: Clock },
  userId: string | undefined,
  network: string | undefined,
  withinSeconds: number,
): Promise<boolean> {
  if (!network) return false;
  const since = new Date(deps.clock.now().getTime() - withinSeconds * 1000);
  const addresses = await selectSigninAddresses(deps.db, userId ?? NO_USER_ID, since, RECENT_ADDRESSES);
  return userId !== undefined && addresses.some((address) => isInNetwork(address, network));
}
