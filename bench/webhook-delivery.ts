// Webhook delivery from one Latchkey server process to a receiver in this process (keep-alive). This
// process commits user.updated events into the server's database through recordEvents, as a change of a
// user would, a transaction every 10 ms at a steady offered rate across many users, each event carrying
// its sequence number; the receiver notes when each arrives. PostgreSQL only: the embedded database
// belongs to the server's process.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { openDatabase } from '../src/db/client.js';
import { recordEvents, type NewEvent } from '../src/core/events.js';
import { latchkeyCli, percentiles, startServer, type ReportPart } from './lib.js';

const TICK_MS = 10;
const USERS = 1_000;
const DRAIN_TIMEOUT_MS = 30_000;
const RATE_GOAL = 500;
const P99_GOAL_MS = 1000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function webhookDelivery(
  serverEnv: Record<string, string>,
  databaseUrl: string | undefined,
  opts: { rate: number; seconds: number },
  failures: string[],
): Promise<ReportPart> {
  const name = 'webhook_delivery';
  if (!databaseUrl) return { name, targets: [], lines: ['Webhook delivery: not measured (PostgreSQL only: this process commits the events into the server\'s database).'], figures: {} };
  console.error(`webhook delivery: ${opts.rate} events/s offered for ${opts.seconds} s, ${USERS} users, to a receiver in this process`);

  // Time of first receipt by sequence number, and the order each user's events arrived in.
  const receivedAt = new Map<number, number>();
  const arrivals = new Map<string, number[]>();
  let duplicates = 0;
  const receiver = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const at = performance.now();
      const { data } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { data: { seq: number; user: string } };
      if (receivedAt.has(data.seq)) duplicates += 1;
      else {
        receivedAt.set(data.seq, at);
        const seqs = arrivals.get(data.user) ?? [];
        arrivals.set(data.user, seqs);
        seqs.push(data.seq);
      }
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;

  const server = await startServer(serverEnv);
  const database = await openDatabase({ databaseUrl, dataDir: '', poolSize: 2 });
  let endpoint: { id: string } | undefined;
  try {
    endpoint = latchkeyCli<{ id: string }>(['webhooks', 'add', hookUrl, '--events', 'user.updated', '--json'], serverEnv);
    const users = Array.from({ length: USERS }, () => randomUUID());
    // Commit time of each event: when its transaction's last statement returned, just before COMMIT, so
    // that commit→receipt includes the commit itself.
    const committedAt: number[] = [];
    const start = performance.now();
    let seq = 0;
    for (let elapsed = 0; elapsed < opts.seconds * 1000; elapsed = performance.now() - start) {
      const due = Math.floor((opts.rate * elapsed) / 1000) - seq;
      if (due <= 0) {
        await sleep(TICK_MS);
        continue;
      }
      const events: NewEvent[] = Array.from({ length: due }, (_, i) => {
        const user = users[(seq + i) % USERS]!;
        return { type: 'user.updated', userId: user, data: { seq: seq + i, user } };
      });
      await database.db.transaction(async (tx) => {
        await recordEvents(tx, events, new Date());
        const at = performance.now();
        for (let i = 0; i < due; i++) committedAt[seq + i] = at;
      });
      seq += due;
    }
    const end = performance.now();
    const offered = seq;
    const drainDeadline = end + DRAIN_TIMEOUT_MS;
    while (receivedAt.size < offered && performance.now() < drainDeadline) await sleep(50);
    const drainedMs = Math.round(performance.now() - end);

    const latencies = [...receivedAt].map(([s, at]) => at - committedAt[s]!);
    const latency = percentiles(latencies);
    const windowSeconds = (end - start) / 1000;
    const offeredRate = Math.round(offered / windowSeconds);
    // Sustained: what arrived while events were being offered, over the same window.
    const deliveredRate = Math.round([...receivedAt.values()].filter((at) => at <= end).length / windowSeconds);
    const missing = offered - receivedAt.size;
    const outOfOrder = [...arrivals.values()].filter((seqs) => seqs.some((s, i) => i > 0 && s < seqs[i - 1]!)).length;
    if (missing > 0) failures.push(`webhook delivery: ${missing} of ${offered} events not received within ${DRAIN_TIMEOUT_MS / 1000} s of the last commit`);
    if (outOfOrder > 0) failures.push(`webhook delivery: ${outOfOrder} users received their events out of order`);
    const p99 = missing > 0 ? undefined : latency.p99;
    return {
      name,
      targets: [
        ['webhook events delivered per second, sustained (one instance)', deliveredRate, `>= ${RATE_GOAL}`, deliveredRate >= RATE_GOAL],
        ['webhook commit → receipt p99 (ms)', p99, `< ${P99_GOAL_MS}`, p99 === undefined ? false : p99 < P99_GOAL_MS],
      ],
      lines: [
        `Webhook delivery: ${offered.toLocaleString('en')} user.updated events across ${USERS.toLocaleString('en')} users committed by this process through recordEvents ` +
          `(a transaction every ${TICK_MS} ms) over ${windowSeconds.toFixed(1)} s, ${offeredRate}/s offered; one server process delivering to a receiver in this process. ` +
          `Delivered ${deliveredRate}/s during that window; all received ${drainedMs} ms after the last commit${missing > 0 ? ` (${missing} never)` : ''}. ` +
          `Commit → receipt: p50 ${latency.p50} ms, p95 ${latency.p95}, p99 ${latency.p99}, max ${latency.max}. Duplicates ${duplicates}, users out of order ${outOfOrder}.`,
      ],
      figures: { offered, offered_per_s: offeredRate, delivered_per_s: deliveredRate, window_s: windowSeconds, drained_ms: drainedMs, commit_to_receipt_ms: latency, missing, duplicates, users_out_of_order: outOfOrder },
    };
  } finally {
    if (endpoint) latchkeyCli(['webhooks', 'remove', endpoint.id, '--json'], serverEnv);
    await database.close();
    await server.stop();
    receiver.closeAllConnections();
    receiver.close();
  }
}
