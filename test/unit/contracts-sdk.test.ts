import type { LatchkeyEventUser } from '@latchkey/verify';
import { expectTypeOf, it } from 'vitest';
import type { EventUser } from '../../src/contracts/users.js';

// The SDK is published on its own and carries no code of the server's, so it declares the user of webhook
// events again; this is checked by the type-check (npm run typecheck, in CI), where a field added to, removed
// from or retyped in either one fails.
it('the SDK\'s webhook user is the server\'s EventUser, field for field', () => {
  expectTypeOf<LatchkeyEventUser>().toEqualTypeOf<EventUser>();
  expectTypeOf<EventUser>().toEqualTypeOf<LatchkeyEventUser>();
});
