/**
 * The scopes Latchkey grants an OAuth client, and what each lets it read of a user (OpenID Connect Core §5.4).
 * `openid` makes the request an OpenID Connect one (an ID token); `offline_access` is accepted and changes nothing:
 * every code exchange gets a refresh token, bound to its client and rotated as Latchkey's own are.
 */
export const OAUTH_SCOPES = ['openid', 'profile', 'email', 'offline_access'] as const;
export type OAuthScope = (typeof OAUTH_SCOPES)[number];

/** The claims the ID token and the userinfo endpoint may carry, beside `sub`. */
export const OAUTH_CLAIMS = ['name', 'email', 'email_verified', 'updated_at'] as const;

const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]{1,64}$/;

/** The scopes of a request's `scope`, known ones only (unknown ones are ignored, as OpenID Connect asks), in a stable order; undefined when malformed. */
export function parseScope(value: string | undefined): OAuthScope[] | undefined {
  const asked = (value ?? '').split(' ').filter(Boolean);
  if (asked.length > 20 || asked.some((s) => !SCOPE_TOKEN.test(s))) return undefined;
  return OAUTH_SCOPES.filter((s) => asked.includes(s));
}

/** A user's claims as the granted scopes allow them. */
export function claimsFor(
  scopes: readonly string[],
  user: { id: string; name: string; email: string; emailVerifiedAt: Date | null; updatedAt: Date },
): { sub: string } & Record<string, unknown> {
  const claims: { sub: string } & Record<string, unknown> = { sub: user.id };
  if (scopes.includes('profile')) Object.assign(claims, { name: user.name, updated_at: Math.floor(user.updatedAt.getTime() / 1000) });
  if (scopes.includes('email')) Object.assign(claims, { email: user.email, email_verified: user.emailVerifiedAt !== null });
  return claims;
}
