import { Type, type Static } from 'typebox';

/**
 * OAuth clients (the applications that sign their users in through Latchkey) as an operator sees them (the command
 * line, the admin API, the console), and the consents a user gave them as the user sees them (`/api/me/consents`).
 */

const Time = Type.String({ format: 'date-time' });
const Uris = (description: string) => Type.Array(Type.String(), { description });

/** An OAuth client; never its secret (answers are serialized from this schema, which does not list it). */
export const OAuthClientView = Type.Object({
  client_id: Type.String({ description: 'its `client_id` (`lko_…`)' }),
  name: Type.String({ description: 'the name users see on the consent page' }),
  type: Type.Union([Type.Literal('confidential'), Type.Literal('public')], { description: '`public`: no secret and no keys, PKCE alone' }),
  first_party: Type.Boolean({ description: 'true: its users are never asked for their consent' }),
  redirect_uris: Uris('compared exactly at every authorization request'),
  post_logout_redirect_uris: Uris('where RP-initiated logout may send the browser back to'),
  backchannel_logout_uri: Type.Union([Type.String(), Type.Null()]),
  token_endpoint_auth_methods: Type.Array(Type.String(), { description: '`client_secret_basic`, `client_secret_post`, `private_key_jwt`, or `none`' }),
  created_at: Time,
  secret_rotated_at: Type.Union([Time, Type.Null()]),
});
export type OAuthClientView = Static<typeof OAuthClientView>;

/** A client with its new secret, at creation or rotation: shown this once, never stored in clear. */
export const OAuthClientWithSecret = Type.Object({
  ...OAuthClientView.properties,
  client_secret: Type.Union([Type.String(), Type.Null()], {
    description: 'its `client_secret` (`lkos_…`), shown this once; null for a public client and one that authenticates with its own keys',
  }),
});
export type OAuthClientWithSecret = Static<typeof OAuthClientWithSecret>;

/** An application the caller allowed, and what it may read. */
export const ConsentView = Type.Object({
  client_id: Type.String(),
  name: Type.String(),
  scopes: Type.Array(Type.String(), { description: 'among `openid`, `profile`, `email`, `offline_access`' }),
  granted_at: Type.String({ format: 'date-time', description: 'when it was last allowed (or allowed more)' }),
});
export type ConsentView = Static<typeof ConsentView>;
