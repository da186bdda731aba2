import { Type } from 'typebox';

/** What the admin webhook routes share: their tag and the endpoint id of their path. */
export const tags = ['admin'];
const EndpointId = Type.String({ minLength: 4, maxLength: 100, pattern: '^wh_[A-Za-z0-9_-]+$', description: 'the endpoint id (`wh_…`)' });
export const IdParam = Type.Object({ id: EndpointId });
