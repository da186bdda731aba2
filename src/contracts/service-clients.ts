import { Type, type Static } from 'typebox';

/** Service clients as an operator sees them (the command line, the admin API, the console). */

const Time = Type.String({ format: 'date-time' });

/** A service client; never its secret (answers are serialized from this schema, which does not list it). */
export const ServiceClientView = Type.Object({
  client_id: Type.String({ description: 'the user name of its HTTP Basic credentials (`lkc_…`)' }),
  name: Type.String(),
  scopes: Type.Array(Type.String(), { description: 'among `revocations:read`, `users:read`, `admin`' }),
  created_at: Time,
  secret_rotated_at: Type.Union([Time, Type.Null()]),
});
export type ServiceClientView = Static<typeof ServiceClientView>;

/** A client with its new secret, at creation or rotation: shown this once, never stored in clear. */
export const ServiceClientWithSecret = Type.Object({
  ...ServiceClientView.properties,
  client_secret: Type.String({ description: 'the password of its HTTP Basic credentials (`lks_…`): shown this once' }),
});
export type ServiceClientWithSecret = Static<typeof ServiceClientWithSecret>;
