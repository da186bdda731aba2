import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { expect, it } from 'vitest';
import { describeWithAndWithoutServer, expectOneLine, json, useCliTarget } from '../helpers/cli.js';
import { basic, openSse } from '../helpers/sse.js';

const CREDENTIALS_LINE = /^\{"client_id": "(lkc_[A-Za-z0-9_-]+)", "client_secret": "(lks_[A-Za-z0-9_-]{43})"\}\n$/;

function credentials(run: { code: number | null; stdout: string; stderr: string }) {
  expect(run.code, run.stderr).toBe(0);
  const match = CREDENTIALS_LINE.exec(run.stdout);
  expect(match, run.stdout).not.toBeNull();
  return { client_id: match![1]!, client_secret: match![2]! };
}

/** Every file under a folder, as bytes. */
function filesUnder(dir: string): Buffer[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((name) => join(dir, name))
    .filter((path) => statSync(path).isFile())
    .map((path) => readFileSync(path));
}

describeWithAndWithoutServer('latchkey services', (withServer) => {
  // On PostgreSQL, two processes behind one port: a rotation must reach both through NOTIFY.
  const target = useCliTarget(withServer, (database): Record<string, string> => (database.url ? { WORKERS: '2' } : {}));
  const run = (args: string[]) => target.run(args);
  const stream = (c: { client_id: string; client_secret: string }) => openSse(`${target.server!.url}/api/revocations/stream`, { authorization: basic(c.client_id, c.client_secret) });
  const status = async (c: { client_id: string; client_secret: string }) => {
    const s = await stream(c);
    s.close();
    return s.status;
  };
  const endsWithin = (ended: Promise<void>, ms: number) => Promise.race([ended.then(() => 'ended'), new Promise((r) => setTimeout(() => r('open'), ms))]);

  it('creates a client, printing exactly its id and secret; refuses a taken name, an unknown scope, a bad name', async () => {
    const made = credentials(await run(['services', 'create', 'billing', '--scopes', 'revocations:read,users:read', '--json']));
    expectOneLine(await run(['services', 'create', 'billing', '--scopes', 'admin']), 1, /\(service_client_exists\)/);
    expectOneLine(await run(['services', 'create', 'other', '--scopes', 'revocations:read,everything']), 2, /scopes.1: must be among revocations:read, users:read, admin/);
    expectOneLine(await run(['services', 'create', 'no spaces', '--scopes', 'admin']), 2, /name: must be/);
    expectOneLine(await run(['services', 'create', 'x']), 2, /required option '--scopes <scopes>'/);
    const human = await run(['services', 'create', 'search', '--scopes', 'admin']);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/client_secret: lks_/);
    if (target.server) expect(await status(made)).toBe(200);
  }, 120_000);

  it('lists clients, as a table or JSON, never with a secret', async () => {
    const list = await run(['services', 'list', '--json']);
    const clients = json(list);
    expect(clients.map((c: { name: string }) => c.name)).toEqual(['billing', 'search']);
    expect(clients[0]).toMatchObject({ scopes: ['revocations:read', 'users:read'], secret_rotated_at: null });
    expect(Object.keys(clients[0]).sort()).toEqual(['client_id', 'created_at', 'name', 'scopes', 'secret_rotated_at']);
    expect(list.stdout).not.toMatch(/lks_|secret_hash/);
    const table = await run(['services', 'list']);
    expect(table.stdout.split('\n')[0]).toMatch(/^NAME\s+CLIENT_ID\s+SCOPES\s+CREATED\s+ROTATED$/);
  }, 120_000);

  it('rotates a secret by name or client id: the old one stops working at once, and its streams close', async () => {
    const made = credentials(await run(['services', 'create', 'rotating', '--scopes', 'revocations:read', '--json']));
    const open = target.server && (await stream(made));
    if (open) {
      expect(open.status).toBe(200);
      await open.next((e) => e.event === 'ready');
    }
    const fresh = credentials(await run(['services', 'rotate', 'rotating', '--json']));
    expect(fresh.client_id).toBe(made.client_id);
    expect(fresh.client_secret).not.toBe(made.client_secret);
    if (target.server && open) {
      await expect(endsWithin(open.ended, 2_000)).resolves.toBe('ended');
      expect(await status(made)).toBe(401);
      expect(await status(fresh)).toBe(200);
    }
    const again = credentials(await run(['services', 'rotate', made.client_id, '--json']));
    if (target.server) expect(await status(fresh)).toBe(401);
    if (target.server) expect(await status(again)).toBe(200);
    expectOneLine(await run(['services', 'rotate', 'nobody']), 1, /\(service_client_not_found\)/);
  }, 120_000);

  it('removes a client only with --yes; its streams close and its secret is refused', async () => {
    const made = credentials(await run(['services', 'create', 'leaving', '--scopes', 'revocations:read', '--json']));
    const open = target.server && (await stream(made));
    if (open) await open.next((e) => e.event === 'ready');
    expectOneLine(await run(['services', 'remove', 'leaving']), 2, /add --yes/);
    const removed = await run(['services', 'remove', 'leaving', '--yes']);
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.stdout).toMatch(/^Removed service leaving \(lkc_/);
    if (target.server && open) {
      await expect(endsWithin(open.ended, 2_000)).resolves.toBe('ended');
      expect(await status(made)).toBe(401);
    }
    expectOneLine(await run(['services', 'remove', 'leaving', '--yes']), 1, /\(service_client_not_found\)/);
    expect(json(await run(['services', 'list', '--json'])).map((c: { name: string }) => c.name)).not.toContain('leaving');
  }, 120_000);

  it('keeps no secret in clear, and audits each change with actor cli', async () => {
    const made = credentials(await run(['services', 'create', 'audited', '--scopes', 'admin', '--json']));
    credentials(await run(['services', 'rotate', 'audited', '--json']));
    expect((await run(['services', 'remove', 'audited', '--yes'])).code).toBe(0);
    if (target.database.url) {
      const client = new pg.Client({ connectionString: target.database.url });
      await client.connect();
      try {
        const rows = await client.query('select * from service_clients');
        expect(rows.rowCount).toBeGreaterThan(0);
        expect(JSON.stringify(rows.rows)).not.toMatch(/lks_/);
        const audit = await client.query("select type, details from audit_events where type like 'service_client_%' and details->>'name' = 'audited' order by id");
        expect(audit.rows.map((r) => r.type)).toEqual(['service_client_created', 'service_client_secret_rotated', 'service_client_removed']);
        expect(audit.rows.every((r) => r.details.actor === 'cli' && r.details.clientId === made.client_id)).toBe(true);
        expect(JSON.stringify(audit.rows)).not.toMatch(/lks_/);
      } finally {
        await client.end();
      }
    }
    // Nor in the server's log (secrets went over its control socket, or into Basic headers).
    if (target.server) expect(target.server.output()).not.toMatch(/lks_/);
    if (!target.database.url && !target.server) {
      // The embedded data folder, every file of it: no secret of any client, ever.
      const secret = Buffer.from(made.client_secret.slice(4));
      for (const file of filesUnder(target.env.DATA_DIR!)) expect(file.includes(secret)).toBe(false);
    }
  }, 120_000);
});
