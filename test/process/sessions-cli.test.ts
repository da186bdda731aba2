import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { expectOneLine, json, latchkey, useCliTarget } from '../helpers/cli.js';

const PASSWORD = 'correct horse battery staple';
const EMAIL = 'ada@example.com';

interface Tokens {
  access_token: string;
  refresh_token: string;
}

/** The session id (`sid`) an access token names. */
const sidOf = (token: string): string => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')).sid;

/** With the command line in a process of its own (PostgreSQL), a revocation reaches the server through NOTIFY: give it a moment. */
async function eventually(check: () => Promise<boolean>, ms = 5_000) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('not within the time');
    await new Promise((r) => setTimeout(r, 100));
  }
}

// `sessions list --user` and `sessions revoke <session id>`: first through a running server (on the embedded
// engine, over its control socket), then, once it has stopped, by the command line on its own.
describe('latchkey sessions', () => {
  const target = useCliTarget(true, () => ({ LOG_LEVEL: 'info' }));
  const run = (args: string[]) => target.run(args);
  const server = () => target.server!;
  const post = async (path: string, body: object, headers: Record<string, string> = {}) => {
    const res = await fetch(`${server().url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as Tokens & { error?: string } };
  };
  const dashboard = async (t: Tokens) => (await fetch(`${server().url}/api/dashboard`, { headers: { authorization: `Bearer ${t.access_token}` } })).status;
  const signIn = async (agent: string) => {
    const res = await post('/api/signin', { email: EMAIL, password: PASSWORD }, { 'user-agent': agent });
    expect(res.status).toBe(200);
    return res.body;
  };
  let kept: string;
  let other: string;

  it('lists a user\'s live sessions without a token, and ends one of them as its logout would', async () => {
    const created = await latchkey(target.env, ['users', 'create', '--email', EMAIL, '--name', 'Ada'], `${PASSWORD}\n`);
    expect(created.code, created.stderr).toBe(0);
    const [first, second, third] = [await signIn('laptop/1.0'), await signIn('phone/2.0'), await signIn('tablet/3.0')] as [Tokens, Tokens, Tokens];
    const refreshed = await post('/api/refresh', { refresh_token: first.refresh_token });
    expect(refreshed.status).toBe(200);

    const listed = await run(['sessions', 'list', '--user', EMAIL, '--json']);
    const { user, sessions } = json(listed);
    expect(user.email).toBe(EMAIL);
    expect(sessions.map((s: { id: string }) => s.id)).toEqual([first, second, third].map((t) => sidOf(t.access_token)));
    expect(Object.keys(sessions[0]).sort()).toEqual(['created_at', 'expires_at', 'id', 'ip_address', 'last_refreshed_at', 'user_agent']);
    expect(sessions[0]).toMatchObject({ ip_address: '127.0.0.1', user_agent: 'laptop/1.0', last_refreshed_at: expect.any(String) });
    expect(sessions[1]).toMatchObject({ user_agent: 'phone/2.0', last_refreshed_at: null });
    for (const t of [first, second, third, refreshed.body]) expect(listed.stdout).not.toContain(t.refresh_token);
    expect(listed.stdout).not.toMatch(/hash|token/);

    const table = await run(['sessions', 'list', '--user', user.id]);
    expect(table.stdout.split('\n')[0]).toMatch(/^ID\s+CREATED\s+LAST_REFRESHED\s+EXPIRES\s+ADDRESS\s+USER_AGENT$/);
    expect(table.stdout).toContain('tablet/3.0');
    expect(table.stderr).toContain(`3 live session(s) of ${EMAIL}`);

    const ended = await run(['sessions', 'revoke', sessions[0].id]);
    expect(ended.code, ended.stderr).toBe(0);
    expect(ended.stdout).toBe(`Ended session ${sessions[0].id} of ${EMAIL}\n`);
    await eventually(async () => (await dashboard(refreshed.body)) === 401);
    expect((await post('/api/refresh', { refresh_token: refreshed.body.refresh_token })).body.error).toBe('invalid_refresh_token');
    expect(await dashboard(second)).toBe(200);
    expect(json(await run(['sessions', 'list', '--user', EMAIL, '--json'])).sessions.map((s: { id: string }) => s.id)).toEqual([sessions[1].id, sessions[2].id]);
    if (!target.database.url) expect(server().output()).toContain('"op":"sessions.revoke"');

    expectOneLine(await run(['sessions', 'revoke', sessions[0].id]), 1, /^latchkey: No live session has this id\. \(session_not_found\)$/m);
    [kept, other] = [sessions[1].id, sessions[2].id];
  }, 120_000);

  it('refuses an unknown session id (exit 1), and neither or both of a session id and --user (exit 2)', async () => {
    expectOneLine(await run(['sessions', 'revoke', randomUUID()]), 1, /\(session_not_found\)/);
    expectOneLine(await run(['sessions', 'revoke', 'not-a-session']), 1, /\(session_not_found\)/);
    expectOneLine(await run(['sessions', 'revoke']), 2, /give a session id or --user <user>, not both/);
    expectOneLine(await run(['sessions', 'revoke', kept, '--user', EMAIL]), 2, /give a session id or --user <user>, not both/);
    expectOneLine(await run(['sessions', 'list']), 2, /required option '--user <user>'/);
    expectOneLine(await run(['sessions', 'list', '--user', 'nobody@example.com']), 1, /\(user_not_found\)/);
  }, 120_000);

  it('with no server running, lists and ends sessions itself; --user still ends them all', async () => {
    expect(await server().stop()).toBe(0);
    const one = json(await run(['sessions', 'revoke', other, '--json']));
    expect(one).toMatchObject({ session_id: other, user: { email: EMAIL } });
    expect(json(await run(['sessions', 'list', '--user', EMAIL, '--json'])).sessions.map((s: { id: string }) => s.id)).toEqual([kept]);
    expect(json(await run(['sessions', 'revoke', '--user', EMAIL, '--json']))).toMatchObject({ sessions_ended: 1, user: { email: EMAIL } });
    expect(json(await run(['sessions', 'list', '--user', EMAIL, '--json'])).sessions).toEqual([]);
    expect(json(await run(['users', 'show', EMAIL, '--json'])).active_sessions).toBe(0);
  }, 120_000);
});
