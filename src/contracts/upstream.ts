import { Type, type Static } from 'typebox';
import { oneOf } from './fields.js';

/** The kinds of upstream provider: any OpenID Connect issuer (by discovery), or GitHub's OAuth 2. */
export const UPSTREAM_TYPES = ['oidc', 'github'] as const;
export type UpstreamType = (typeof UPSTREAM_TYPES)[number];

/** An upstream provider as an operator sees it (`latchkey providers list`): never its client secret. */
export const UpstreamProviderInfo = Type.Object({
  name: Type.String(),
  type: oneOf(UPSTREAM_TYPES),
  /** The OpenID Connect issuer; for GitHub, its web address (https://github.com, or a GitHub Enterprise Server's). */
  issuer: Type.String(),
  client_id: Type.String(),
  scopes: Type.Array(Type.String()),
  /** The address to register at the provider as the client's redirect URI. */
  redirect_uri: Type.String(),
  created_at: Type.String(),
  updated_at: Type.String(),
});
export type UpstreamProviderInfo = Static<typeof UpstreamProviderInfo>;

/** What `providers remove` answers: the provider, and how many users' links went with it. */
export type RemovedUpstreamProvider = UpstreamProviderInfo & { identities_unlinked: number };

/** One of a user's linked identities, as their account shows it. */
export interface LinkedIdentity {
  provider: string;
  subject: string;
  email: string | null;
  created_at: string;
  last_used_at: string | null;
}
