import { Type } from 'typebox';

/** What every admin user route shares: its tag, and the user id of its path. */
export const tags = ['admin'];
export const IdParam = Type.Object({ id: Type.String({ format: 'uuid', maxLength: 36, description: 'the user id' }) });

export const ADMIN_PAGE_MAX = 200;
