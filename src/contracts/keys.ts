import { Type, type Static } from 'typebox';
import { oneOf } from './fields.js';

/** Signing keys as an operator sees them (the command line, the admin API, the console): never a private half. */

const Time = Type.String({ format: 'date-time' });
const NullableTime = Type.Union([Time, Type.Null()]);

export const KEY_STATES = ['current', 'next', 'previous', 'retired', 'revoked'] as const;

/**
 * `current` signs now; `next` is published and signs from `activates_at`; `previous` signed before and still
 * verifies its tokens until they expire; `retired` no longer signs (it verifies until then too); `revoked`
 * verifies nothing: every token it signed is refused.
 */
export type KeyState = (typeof KEY_STATES)[number];

export const SigningKeyView = Type.Object({
  kid: Type.String({ description: "the key's id: its JWK thumbprint, the `kid` of the tokens it signs" }),
  alg: Type.String(),
  state: oneOf(KEY_STATES, { description: '`current`, `next`, `previous`, `retired` or `revoked`' }),
  created_at: Time,
  activates_at: Time,
  retired_at: NullableTime,
  revoked_at: NullableTime,
});
export type SigningKeyView = Static<typeof SigningKeyView>;

/** What a revocation did. */
export const KeyRevoked = Type.Object({
  kid: Type.String(),
  revoked_at: Time,
  already_revoked: Type.Boolean({ description: 'the key had been revoked before (at `revoked_at`): nothing was done this time' }),
  new_key: Type.Union([SigningKeyView, Type.Null()], { description: 'the key made to sign from now on, when the revoked key was the one signing' }),
});
export type KeyRevoked = Static<typeof KeyRevoked>;

/** The longest kid the admin API and the command line take; a stored kid is 43 characters. */
export const KID_MAX_LENGTH = 100;
