const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Whether a value is a UUID, as the ids of users and sessions are: anything else is looked up nowhere. */
export const isUuid = (value: string): boolean => UUID.test(value);
