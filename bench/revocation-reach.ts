// How soon a logout reaches a service that verifies tokens itself: Latchkey as a server process, and in
// another process an SDK verifier on its revocation feed (bench/revocation-verifier.ts) holding the access
// tokens of `count` sessions, all accepted first. This process logs them out one by one at a steady pace;
// the verifier notes when each token is first refused. Reach = that moment minus the moment the logout
// was sent (and minus its 200 answer); wall clocks of one machine, so comparable between the processes.
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { loadConfig } from '../src/config.js';
import { latchkeyCli, percentiles, refreshMany, ROOT, startServer, wallMs, type ReportPart } from './lib.js';
import type { FromVerifier, ToVerifier } from './revocation-verifier.js';
import { feedRefreshToken } from './seed.js';

const LOGOUTS_PER_SECOND = 20;
const GOAL_MS = 1000;
// After the last logout, how long the last refusals are waited for before the final pass.
const SETTLE_MS = 5_000;
// The verifier checks its pending tokens this often. A tight loop would take a core from the server and
// PostgreSQL on a 2-core machine; every millisecond costs little and notes a refusal at most ~1 ms late.
const POLL_MS = 1;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

export async function revocationReach(serverEnv: Record<string, string>, count: number, failures: string[]): Promise<ReportPart> {
  console.error(`revocation reach: ${count} logouts at ${LOGOUTS_PER_SECOND}/s, seen by an SDK verifier in another process`);
  const server = await startServer(serverEnv);
  const verifier = fork(`${ROOT}bench/revocation-verifier.ts`, { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  try {
    const client = latchkeyCli<{ client_id: string; client_secret: string }>(
      ['services', 'create', `bench-feed-${randomBytes(3).toString('hex')}`, '--scopes', 'revocations:read', '--json'],
      serverEnv,
    );
    const sessions = await refreshMany(server.url, Array.from({ length: count }, (_, j) => feedRefreshToken(j)));
    const { jwt } = loadConfig(serverEnv);
    const messages: FromVerifier[] = [];
    verifier.on('message', (m: FromVerifier) => messages.push(m));
    const tell = (m: ToVerifier) => verifier.send(m);
    const received = <T extends FromVerifier['type']>(type: T) => messages.filter((m): m is Extract<FromVerifier, { type: T }> => m.type === type);
    const waitFor = async <T extends FromVerifier['type']>(type: T, timeoutMs: number) => {
      const deadline = performance.now() + timeoutMs;
      while (received(type).length === 0) {
        if (verifier.exitCode !== null || performance.now() > deadline) throw new Error(`revocation reach: no ${type} from the verifier`);
        await sleep(20);
      }
      return received(type)[0]!;
    };

    tell({
      type: 'start',
      options: {
        issuer: jwt.issuer,
        audience: jwt.audience,
        jwksUrl: `${server.url}/.well-known/jwks.json`,
        feed: { url: `${server.url}/api/revocations/stream`, clientId: client.client_id, clientSecret: client.client_secret },
      },
      tokens: sessions.map((s) => s.access_token),
      pollMs: POLL_MS,
    });
    const { refused } = await waitFor('ready', 30_000);
    if (refused.length > 0) failures.push(`revocation reach: ${refused.length} tokens refused before any logout (${refused[0]})`);

    // Sent on a schedule, not one after another's answer: a slow answer does not slow the pace.
    const sentAt: number[] = [];
    const answeredAt: number[] = [];
    let failedLogouts = 0;
    const start = performance.now();
    const logouts = sessions.map(async (s, i) => {
      await sleep(start + (i * 1000) / LOGOUTS_PER_SECOND - performance.now());
      sentAt[i] = wallMs();
      const res = await fetch(`${server.url}/api/logout`, { method: 'POST', headers: { authorization: `Bearer ${s.access_token}` } });
      answeredAt[i] = wallMs();
      await res.arrayBuffer();
      if (res.status !== 200) failedLogouts += 1;
    });
    await Promise.all(logouts);
    const deadline = performance.now() + SETTLE_MS;
    while (received('refused').length < count && performance.now() < deadline) await sleep(20);
    tell({ type: 'finish' });
    const { acceptedAfter, otherErrors } = await waitFor('finished', 30_000);

    const refusedAt = new Map(received('refused').map((m) => [m.index, m.at]));
    const fromSent = [...refusedAt].map(([i, at]) => at - sentAt[i]!);
    const fromAnswer = [...refusedAt].map(([i, at]) => at - answeredAt[i]!);
    const sent = percentiles(fromSent);
    const answered = percentiles(fromAnswer);
    const missed = count - refusedAt.size;
    const others = Object.entries(otherErrors).map(([code, n]) => `${code} ${n}`).join(', ');
    if (failedLogouts > 0) failures.push(`revocation reach: ${failedLogouts} logouts did not answer 200`);
    if (missed > 0) failures.push(`revocation reach: ${missed} of ${count} tokens not refused within ${SETTLE_MS / 1000} s of the last logout`);
    if (acceptedAfter > 0) failures.push(`revocation reach: ${acceptedAfter} revoked tokens accepted on the final pass`);
    if (others) failures.push(`revocation reach: the verifier refused with other codes (${others})`);
    const p99 = missed > 0 ? undefined : sent.p99;
    return {
      name: 'revocation_reach',
      targets: [
        [`revocation reach p99, logout sent to SDK refusal (ms, ${count} logouts)`, p99, `< ${GOAL_MS}`, p99 === undefined ? false : p99 < GOAL_MS],
        ['revoked tokens accepted after the reach run', acceptedAfter, '0', acceptedAfter === 0],
      ],
      lines: [
        `Revocation reach: ${count} sessions logged out one by one (POST /api/logout, ${LOGOUTS_PER_SECOND}/s) while an SDK verifier in another process ` +
          `(\`createVerifier\` with the revocation feed, polling its ${count} accepted tokens every ${POLL_MS} ms) noted when each was first refused with session_revoked. ` +
          `From the logout sent: p50 ${sent.p50} ms, p95 ${sent.p95}, p99 ${sent.p99}, max ${sent.max}; from its 200 answer (below zero when the verifier knew first): p50 ${answered.p50}, p95 ${answered.p95}, p99 ${answered.p99}, max ${answered.max}. ` +
          `Refused: ${refusedAt.size} of ${count}; revoked tokens accepted after: ${acceptedAfter}.`,
      ],
      figures: { sessions: count, logouts_per_s: LOGOUTS_PER_SECOND, refused: refusedAt.size, from_sent_ms: sent, from_answer_ms: answered, accepted_after: acceptedAfter, failed_logouts: failedLogouts },
    };
  } finally {
    if (verifier.connected) verifier.kill();
    await server.stop();
  }
}
