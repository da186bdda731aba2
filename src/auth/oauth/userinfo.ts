import { createDecoder } from 'fast-jwt';
import type { Db } from '../../db/client.js';
import { selectUserById } from '../../db/queries/users.js';
import { AppError } from '../../errors.js';
import type { AccessClaims } from '../sessions/access-tokens.js';
import { claimsFor } from './scopes.js';

const decode = createDecoder();

/**
 * The userinfo endpoint's answer (OpenID Connect Core §5.3) for a verified access token: the claims its scopes allow.
 * A token of Latchkey's own sessions (no `scope`) is answered with `sub` alone.
 */
export async function userInfo(db: Db, claims: AccessClaims, token: string): Promise<{ sub: string } & Record<string, unknown>> {
  const payload = decode(token) as { scope?: unknown };
  const scopes = typeof payload.scope === 'string' ? payload.scope.split(' ') : [];
  const user = await selectUserById(db, claims.userId);
  if (!user || user.disabledAt) throw new AppError('session_revoked');
  return claimsFor(scopes, user);
}
