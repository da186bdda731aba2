/**
 * How fast @latchkey/verify verifies, against raw node:crypto ES256 verification on one core:
 * `npx tsx packages/verify/bench/verify.ts`. A JWKS of its own is served on loopback; no Latchkey needed.
 */
import { measureVerify } from './measure.js';

const { raw, fresh, seen } = await measureVerify();
console.log(`raw node:crypto ES256 verify: ${raw}/s`);
console.log(`new tokens:                  ${fresh}/s (${(fresh / raw).toFixed(2)} of raw; target 0.8)`);
console.log(`a seen token:                ${seen}/s (target 200,000)`);
