const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * An id no user has: a look-up for an unknown address runs the same statements against it, so that known and
 * unknown addresses cost the same.
 */
export const NO_USER_ID = '00000000-0000-0000-0000-000000000000';

/** Whether a value is a UUID, as the ids of users and sessions are: anything else is looked up nowhere. */
export const isUuid = (value: string): boolean => UUID.test(value);
