import type { Clock } from '../../core/clock.js';
import { OVERVIEW_DAYS, type Overview, type OverviewDay } from '../../contracts/overview.js';
import type { Db } from '../../db/client.js';
import { auditEventsPerDay, countOpenSessions, countUsers, usersCreatedPerDay, type DayCount } from '../../db/queries/overview.js';
import { countDeadDeliveries, countPendingDeliveries } from '../../db/queries/webhooks.js';
import { listSigningKeys } from '../keys/key-admin.js';
import type { KeyRing } from '../keys/key-ring.js';

interface OverviewDeps {
  db: Db;
  clock: Clock;
  keys: KeyRing;
}

const DAY_MS = 86_400_000;

/**
 * What an operator looks at first (the console's `/admin`, `GET /api/admin/overview`): users, sign-ins and their
 * failures per UTC day over the last 30 days, the sessions open now, the webhooks' backlog and dead deliveries, and
 * the age of the key that signs. One indexed statement per figure, one after the other: a pool's connections
 * stay with the requests.
 */
export async function readOverview(deps: OverviewDeps): Promise<Overview> {
  const now = deps.clock.now();
  const until = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()) + DAY_MS);
  const window = { from: new Date(until.getTime() - OVERVIEW_DAYS * DAY_MS), until };
  const total = await countUsers(deps.db);
  const newUsers = await usersCreatedPerDay(deps.db, window);
  const signIns = await auditEventsPerDay(deps.db, 'signin_succeeded', window);
  const failures = await auditEventsPerDay(deps.db, 'signin_failed', window);
  const active = await countOpenSessions(deps.db, now);
  const pending = await countPendingDeliveries(deps.db);
  const dead = await countDeadDeliveries(deps.db);
  const signing = (await listSigningKeys(deps)).find((k) => k.state === 'current');

  const byDay = (rows: DayCount[]) => new Map(rows.map((r) => [r.day, r.n]));
  const [users, ins, fails] = [byDay(newUsers), byDay(signIns), byDay(failures)];
  const days: OverviewDay[] = Array.from({ length: OVERVIEW_DAYS }, (_, i) => {
    const date = new Date(window.from.getTime() + i * DAY_MS).toISOString().slice(0, 10);
    return { date, new_users: users.get(date) ?? 0, sign_ins: ins.get(date) ?? 0, failed_sign_ins: fails.get(date) ?? 0 };
  });
  const sum = (pick: (d: OverviewDay) => number) => days.reduce((n, d) => n + pick(d), 0);
  return {
    as_of: now.toISOString(),
    users: { total },
    sessions: { active },
    days,
    totals: { new_users: sum((d) => d.new_users), sign_ins: sum((d) => d.sign_ins), failed_sign_ins: sum((d) => d.failed_sign_ins) },
    webhooks: { pending, dead },
    signing_key: signing
      ? {
          kid: signing.kid,
          alg: signing.alg,
          activated_at: signing.activates_at,
          age_seconds: Math.max(0, Math.floor((now.getTime() - Date.parse(signing.activates_at)) / 1000)),
        }
      : null,
  };
}
