import pg from 'pg';
import { expect, it } from 'vitest';
import { describeWithAndWithoutServer, expectOneLine, json, latchkey, useCliTarget } from '../helpers/cli.js';

const SECRET = 'upstream-client-secret-never-an-argument';

/** The server's /login, until it shows (or no longer shows) a provider's button: a change elsewhere shows within seconds. */
async function loginShows(url: string, text: string, shown: boolean, ms = 10_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const body = await (await fetch(`${url}/login`)).text();
    if (body.includes(text) === shown) return;
    if (Date.now() > deadline) throw new Error(`/login ${shown ? 'never showed' : 'still shows'} ${text}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describeWithAndWithoutServer('latchkey providers', (withServer) => {
  const target = useCliTarget(withServer);
  const run = (args: string[], input = '') => latchkey(target.env, args, input);

  it('adds an OpenID provider with its secret from standard input, never printing or storing it in clear', async () => {
    const added = json(await run(['providers', 'add', 'corp', '--issuer', 'https://login.example.com/tenant/v2.0', '--client-id', 'latchkey', '--json'], `${SECRET}\n`));
    expect(added).toMatchObject({ name: 'corp', type: 'oidc', issuer: 'https://login.example.com/tenant/v2.0', client_id: 'latchkey', scopes: ['openid', 'email', 'profile'] });
    expect(added.redirect_uri).toMatch(/\/api\/signin\/corp\/callback$/);
    const github = json(await run(['providers', 'add', 'github', '--type', 'github', '--client-id', 'Iv1.abc', '--json'], SECRET));
    expect(github).toMatchObject({ type: 'github', issuer: 'https://github.com', scopes: ['read:user', 'user:email'] });
    const list = await run(['providers', 'list', '--json']);
    expect(json(list).map((p: { name: string }) => p.name)).toEqual(['corp', 'github']);
    expect(list.stdout).not.toContain(SECRET);
    expect((await run(['providers', 'list'])).stdout.split('\n')[0]).toMatch(/^NAME\s+TYPE\s+ISSUER\s+CLIENT_ID\s+REDIRECT_URI$/);
    if (target.database.url) {
      const client = new pg.Client({ connectionString: target.database.url });
      await client.connect();
      const { rows } = await client.query('select client_secret_sealed from upstream_providers');
      await client.end();
      for (const row of rows) expect(row.client_secret_sealed).not.toContain(SECRET);
    }
    if (target.server) await loginShows(target.server.url, 'Continue with corp', true);
  }, 120_000);

  it('refuses a plain-http issuer off loopback, a missing secret, a taken or reserved name', async () => {
    expectOneLine(await run(['providers', 'add', 'plain', '--issuer', 'http://login.example.com', '--client-id', 'x'], SECRET), 2, /issuer: must be https:\/\//);
    expect(json(await run(['providers', 'add', 'local', '--issuer', 'http://127.0.0.1:9/', '--client-id', 'x', '--json'], SECRET)).issuer).toBe('http://127.0.0.1:9/');
    expectOneLine(await run(['providers', 'add', 'nosecret', '--issuer', 'https://id.example.com', '--client-id', 'x']), 2, /no client secret on standard input/);
    expectOneLine(await run(['providers', 'add', 'corp', '--issuer', 'https://id.example.com', '--client-id', 'x'], SECRET), 1, /\(upstream_provider_exists\)/);
    expectOneLine(await run(['providers', 'add', 'mfa', '--issuer', 'https://id.example.com', '--client-id', 'x'], SECRET), 2, /taken by a sign-in route/);
    expectOneLine(await run(['providers', 'add', 'Bad Name', '--issuer', 'https://id.example.com', '--client-id', 'x'], SECRET), 2, /name: must be/);
    expectOneLine(await run(['providers', 'add', 'noissuer', '--client-id', 'x'], SECRET), 2, /needs --issuer/);
  }, 120_000);

  it('removes a provider only with --yes; its button goes', async () => {
    expectOneLine(await run(['providers', 'remove', 'corp']), 2, /add --yes/);
    expect(json(await run(['providers', 'remove', 'corp', '--yes', '--json']))).toMatchObject({ name: 'corp', identities_unlinked: 0 });
    expectOneLine(await run(['providers', 'remove', 'corp', '--yes']), 1, /\(upstream_provider_not_found\)/);
    if (target.server) await loginShows(target.server.url, 'Continue with corp', false);
  }, 120_000);
});
