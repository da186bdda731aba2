import { Type, type Static } from 'typebox';

/** The tokens of a session as a client receives them (sign-in, refresh): declared and built here only. */
export const TokenAnswer = Type.Object({
  access_token: Type.String({ description: 'JWT access token (typ at+jwt)' }),
  refresh_token: Type.String({ description: 'opaque refresh token, single use' }),
  token_type: Type.Literal('Bearer'),
  expires_in: Type.Integer({ description: 'seconds until the access token expires' }),
});
export type TokenAnswer = Static<typeof TokenAnswer>;

/** The answer's fields for a session's new pair of tokens. */
export function toTokenAnswer(tokens: { accessToken: string; refreshToken: string; expiresIn: number }): TokenAnswer {
  return { access_token: tokens.accessToken, refresh_token: tokens.refreshToken, token_type: 'Bearer', expires_in: tokens.expiresIn };
}
