import { Type } from 'typebox';

/** What the admin OAuth-client routes share: their tag and the client of their path. */
export const tags = ['admin'];
export const ClientParam = Type.Object({
  ref: Type.String({ minLength: 1, maxLength: 68, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$', description: "the client's name, or its client id (`lko_…`)" }),
});
