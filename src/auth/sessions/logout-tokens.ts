import { randomUUID } from 'node:crypto';
import { namesAudience } from '../../core/audiences.js';
import { epochSeconds } from '../../core/clock.js';
import type { KeySet } from '../keys/keys.js';
import { signerFor } from './access-tokens.js';

export const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';
export const LOGOUT_TOKEN_TYPE = 'logout+jwt';
const LOGOUT_TOKEN_TTL_SECONDS = 120;

/** What an OpenID back-channel logout token says: who signed out, of which session, for which receiver. */
export interface LogoutTokenClaims {
  audience: string;
  sub: unknown;
  sid: unknown;
}

export type LogoutTokenSigner = (claims: LogoutTokenClaims, now: Date) => string;

/**
 * Signs back-channel logout tokens with the key that signs at `now`; one fast-jwt signer kept per key (`signerFor`).
 * Throws, signing nothing, for an audience that names `accessAudience` (JWT_AUDIENCE): such a token would
 * verify as an access token under a relying party's check of issuer, audience and signature.
 */
export function createLogoutTokenSigner(keys: Pick<KeySet, 'signingKeyAt'>, issuer: string, accessAudience: string): LogoutTokenSigner {
  return (claims, now) => {
    // Registration refuses such an audience; an endpoint stored before that check, or written by hand, is caught here.
    if (namesAudience(claims.audience, accessAudience)) {
      throw new Error('no logout token signed: the endpoint\'s audience is the access-token audience (JWT_AUDIENCE); register the endpoint again with the client id of its receiver');
    }
    const key = keys.signingKeyAt(now);
    const sign = signerFor(key, LOGOUT_TOKEN_TYPE);
    const iat = epochSeconds(now);
    return sign({
      iss: issuer,
      aud: claims.audience,
      iat,
      exp: iat + LOGOUT_TOKEN_TTL_SECONDS,
      jti: randomUUID(),
      sub: claims.sub,
      sid: claims.sid,
      events: { [BACKCHANNEL_LOGOUT_EVENT]: {} },
    });
  };
}
