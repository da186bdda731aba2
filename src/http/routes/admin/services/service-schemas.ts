import { Type } from 'typebox';

/** What the admin service-client routes share: their tag and the client of their path. */
export const tags = ['admin'];
export const NameParam = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 68, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$', description: "the service's name, or its client id (`lkc_…`)" }),
});
