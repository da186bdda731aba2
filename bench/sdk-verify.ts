// SDK verification (@latchkey/verify) against raw node:crypto ES256 in the same process, on one core: the
// package's own bench (packages/verify/bench/measure.ts), run here so that its figures land in the report.
import { measureVerify } from '../packages/verify/bench/measure.js';
import type { ReportPart } from './lib.js';

const SEEN_GOAL = 200_000;
const FRESH_GOAL = 0.8;

export async function sdkVerifyRun(): Promise<ReportPart> {
  console.error('SDK verify: raw node:crypto ES256 and new tokens alternated 5 times, then one seen token 1,000,000 times');
  const r = await measureVerify();
  const ratio = Math.round((r.fresh / r.raw) * 100) / 100;
  return {
    name: 'sdk_verify',
    targets: [
      ['SDK verify, a token already seen (per s, one core)', r.seen, `>= ${SEEN_GOAL.toLocaleString('en')}`, r.seen >= SEEN_GOAL],
      ['SDK verify of new tokens / raw node:crypto ES256', ratio, `>= ${FRESH_GOAL}`, ratio >= FRESH_GOAL],
    ],
    lines: [
      `SDK verify (\`@latchkey/verify\`, in the bench process, one core; 20,000 ES256 tokens): raw node:crypto ${r.raw}/s, ` +
        `new tokens ${r.fresh}/s (${ratio} of raw; medians of 5 alternated rounds: raw ${r.rounds.raw.join(', ')}; new ${r.rounds.fresh.join(', ')}), ` +
        `a token already seen ${r.seen.toLocaleString('en')}/s.`,
    ],
    figures: { ...r, fresh_over_raw: ratio },
  };
}
