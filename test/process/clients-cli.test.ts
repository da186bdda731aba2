import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair } from 'jose';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithAndWithoutServer, expectOneLine, json, useCliTarget, type Run } from '../helpers/cli.js';

// `latchkey clients`: OAuth clients (the applications that sign their users in through Latchkey) registered, listed,
// given a new secret and removed from the command line, in its own process or through a running server's control
// socket; the secret printed once and never stored in clear; bad input refused with a usage error, before anything.

const CREDENTIALS_LINE = /^\{"client_id": "(lko_[A-Za-z0-9_-]{22})", "client_secret": (null|"lkos_[A-Za-z0-9_-]{43}")\}\n$/;

function credentials(run: Run) {
  expect(run.code, run.stderr).toBe(0);
  const match = CREDENTIALS_LINE.exec(run.stdout);
  expect(match, run.stdout).not.toBeNull();
  return { client_id: match![1]!, client_secret: JSON.parse(match![2]!) as string | null };
}

let files: string;
let publicJwks: string;
beforeAll(async () => {
  files = await mkdtemp(join(tmpdir(), 'latchkey-clients-'));
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  publicJwks = join(files, 'jwks.json');
  await writeFile(publicJwks, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' }] }));
  await writeFile(join(files, 'private.json'), JSON.stringify({ keys: [await exportJWK(privateKey)] }));
  await writeFile(join(files, 'not-json.json'), 'keys: nope');
  await writeFile(join(files, 'empty.json'), JSON.stringify({ keys: [] }));
});
afterAll(async () => {
  await rm(files, { recursive: true, force: true });
});

describeWithAndWithoutServer('latchkey clients', (withServer) => {
  const target = useCliTarget(withServer);
  const run = (args: string[]) => target.run(args);
  /** Whether the secret authenticates the client now, at the introspection endpoint (a running server only). */
  const works = async (c: { client_id: string; client_secret: string | null }) => {
    const body = new URLSearchParams({ token: 'not-a-token', client_id: c.client_id, client_secret: c.client_secret ?? '' });
    const res = await fetch(`${target.server!.url}/oauth/introspect`, { method: 'POST', body });
    return res.status;
  };

  it('creates a confidential client, printing exactly its id and secret; a public one and one with keys get no secret', async () => {
    const made = credentials(await run(['clients', 'create', 'web-app', '--redirect-uri', 'https://app.example/cb', '--redirect-uri', 'http://localhost:3000/cb', '--json']));
    expect(made.client_secret).toMatch(/^lkos_/);
    const spa = credentials(await run(['clients', 'create', 'spa', '--public', '--redirect-uri', 'com.example.app:/callback', '--first-party', '--json']));
    expect(spa.client_secret).toBeNull();
    const keyed = credentials(await run(['clients', 'create', 'keyed', '--jwks', publicJwks, '--redirect-uri', 'https://keyed.example/cb', '--json']));
    expect(keyed.client_secret).toBeNull();
    const human = await run([
      'clients', 'create', 'portal', '--redirect-uri', 'https://portal.example/cb', '--post-logout-redirect-uri', 'https://portal.example/bye', '--backchannel-logout-uri', 'https://portal.example/bcl',
    ]);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/^Created OAuth client portal \(confidential\)\nclient_id: +lko_[A-Za-z0-9_-]{22}\nclient_secret: lkos_/);
    expect(human.stderr).toMatch(/shown only this once/);
    const humanPublic = await run(['clients', 'create', 'native', '--public', '--redirect-uri', 'http://127.0.0.1/cb']);
    expect(humanPublic.stdout).toMatch(/^Created OAuth client native \(public, PKCE alone\)\nclient_id: +lko_\S+\n$/);
    if (target.server) {
      expect(await works(made)).toBe(200);
      expect(await works({ ...made, client_secret: `lkos_${'A'.repeat(43)}` })).toBe(401);
    }
  }, 300_000);

  it('refuses bad input with one line and exit 2 (a taken name with 1), and registers nothing', async () => {
    const before = json(await run(['clients', 'list', '--json'])).length;
    const uri = ['--redirect-uri', 'https://ok.example/cb'];
    expectOneLine(await run(['clients', 'create', 'web-app', ...uri]), 1, /\(oauth_client_exists\)/);
    expectOneLine(await run(['clients', 'create', 'plain-http', '--redirect-uri', 'http://app.example/cb']), 2, /redirect_uris\.0 must be https/);
    // Refused before anything opens.
    expectOneLine(await run(['clients', 'create', 'no-uri']), 2, /at least one --redirect-uri/);
    expectOneLine(await run(['clients', 'create', 'both', ...uri, '--public', '--jwks', publicJwks]), 2, /--public and --jwks/);
    expectOneLine(await run(['clients', 'create', 'missing', ...uri, '--jwks', join(files, 'nowhere.json')]), 2, /--jwks: cannot read .*ENOENT/);
    expectOneLine(await run(['clients', 'create', 'garbled', ...uri, '--jwks', join(files, 'not-json.json')]), 2, /--jwks: .* is not JSON/);
    expectOneLine(await run(['clients', 'create']), 2, /missing required argument 'name'/);
    // The rest are checked where the operation runs: here, the server behind the control socket (the same checks).
    if (target.server) {
      expectOneLine(await run(['clients', 'create', 'fragment', '--redirect-uri', 'https://app.example/cb#x']), 2, /redirect_uris\.0 must not have a fragment/);
      expectOneLine(await run(['clients', 'create', 'relative', '--redirect-uri', '/cb']), 2, /redirect_uris\.0 is not an absolute URI/);
      expectOneLine(await run(['clients', 'create', 'second-bad', ...uri, '--redirect-uri', 'javascript:alert(1)']), 2, /redirect_uris\.1 must be https/);
      expectOneLine(await run(['clients', 'create', 'creds', '--redirect-uri', 'https://user:pw@app.example/cb']), 2, /must not carry credentials/);
      expectOneLine(await run(['clients', 'create', 'bye', ...uri, '--post-logout-redirect-uri', 'http://evil.example/']), 2, /post_logout_redirect_uris\.0 must be https/);
      expectOneLine(await run(['clients', 'create', 'bcl', ...uri, '--backchannel-logout-uri', 'com.example.app:/x']), 2, /backchannel_logout_uri must be http\(s\)/);
      expectOneLine(await run(['clients', 'create', 'no-keys', ...uri, '--jwks', join(files, 'empty.json')]), 2, /jwks\.keys: must be a JWK Set/);
      expectOneLine(await run(['clients', 'create', 'private', ...uri, '--jwks', join(files, 'private.json')]), 2, /jwks must be a JWK Set of 1 to 10 public keys/);
      expectOneLine(await run(['clients', 'create', 'no spaces', ...uri]), 2, /name: must be/);
      expectOneLine(await run(['clients', 'create', 'lko_looks_like_an_id', ...uri]), 2, /name: must be/);
      expectOneLine(await run(['clients', 'create', 'many', ...Array.from({ length: 21 }, (_, i) => ['--redirect-uri', `https://a.example/${i}`]).flat()]), 2, /redirectUris: give 1 to 20/);
      expectOneLine(await run(['clients', 'create', 'long', '--redirect-uri', `https://a.example/${'x'.repeat(2000)}`]), 2, /invalid arguments/);
    }
    expect(json(await run(['clients', 'list', '--json'])).length).toBe(before);
  }, 300_000);

  it('lists clients, as a table or JSON, never with a secret', async () => {
    const list = await run(['clients', 'list', '--json']);
    const clients = json(list);
    expect(clients.map((c: { name: string }) => c.name)).toEqual(['keyed', 'native', 'portal', 'spa', 'web-app']);
    const web = clients.find((c: { name: string }) => c.name === 'web-app');
    expect(web).toMatchObject({
      type: 'confidential',
      first_party: false,
      redirect_uris: ['https://app.example/cb', 'http://localhost:3000/cb'],
      token_endpoint_auth_methods: ['client_secret_basic', 'client_secret_post'],
      secret_rotated_at: null,
    });
    expect(clients.find((c: { name: string }) => c.name === 'spa')).toMatchObject({ type: 'public', first_party: true, token_endpoint_auth_methods: ['none'] });
    expect(clients.find((c: { name: string }) => c.name === 'keyed')).toMatchObject({ type: 'confidential', token_endpoint_auth_methods: ['private_key_jwt'] });
    expect(clients.find((c: { name: string }) => c.name === 'portal')).toMatchObject({ post_logout_redirect_uris: ['https://portal.example/bye'], backchannel_logout_uri: 'https://portal.example/bcl' });
    expect(Object.keys(web).sort()).toEqual([
      'backchannel_logout_uri', 'client_id', 'created_at', 'first_party', 'name', 'post_logout_redirect_uris', 'redirect_uris', 'secret_rotated_at', 'token_endpoint_auth_methods', 'type',
    ]);
    expect(list.stdout).not.toMatch(/lkos_|secret_hash|jwks/);
    const table = await run(['clients', 'list']);
    expect(table.stdout.split('\n')[0]).toMatch(/^NAME\s+CLIENT_ID\s+TYPE\s+FIRST_PARTY\s+AUTH\s+REDIRECT_URIS\s+CREATED\s+ROTATED$/);
    expect(table.stdout).toMatch(/\nweb-app\s+lko_\S+\s+confidential\s+no\s+client_secret_basic,client_secret_post\s+https:\/\/app.example\/cb,http:\/\/localhost:3000\/cb\s/);
  }, 300_000);

  it('rotates a secret by name or client id: the old one stops working at once; a client without a secret has none to rotate', async () => {
    const made = credentials(await run(['clients', 'create', 'rotating', '--redirect-uri', 'https://r.example/cb', '--json']));
    const fresh = credentials(await run(['clients', 'rotate', 'rotating', '--json']));
    expect(fresh.client_id).toBe(made.client_id);
    expect(fresh.client_secret).toMatch(/^lkos_/);
    expect(fresh.client_secret).not.toBe(made.client_secret);
    if (target.server) {
      expect(await works(made)).toBe(401);
      expect(await works(fresh)).toBe(200);
    }
    const human = await run(['clients', 'rotate', made.client_id]);
    expect(human.stdout).toMatch(/^New secret for rotating \(lko_\S+\); the old one no longer works\nclient_secret: lkos_/);
    if (target.server) expect(await works(fresh)).toBe(401);
    expect(json(await run(['clients', 'list', '--json'])).find((c: { name: string }) => c.name === 'rotating').secret_rotated_at).toMatch(/^\d{4}-/);
    expectOneLine(await run(['clients', 'rotate', 'spa']), 2, /no secret to rotate.*\(invalid_request\)/);
    expectOneLine(await run(['clients', 'rotate', 'keyed']), 2, /no secret to rotate/);
    expectOneLine(await run(['clients', 'rotate', 'nobody']), 1, /\(oauth_client_not_found\)/);
  }, 300_000);

  it('removes a client only with --yes; its secret is refused', async () => {
    const made = credentials(await run(['clients', 'create', 'leaving', '--redirect-uri', 'https://l.example/cb', '--json']));
    expectOneLine(await run(['clients', 'remove', 'leaving']), 2, /add --yes/);
    if (target.server) expect(await works(made)).toBe(200);
    const removed = await run(['clients', 'remove', 'leaving', '--yes']);
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.stdout).toBe(`Removed OAuth client leaving (${made.client_id})\n`);
    if (target.server) expect(await works(made)).toBe(401);
    expectOneLine(await run(['clients', 'remove', 'leaving', '--yes']), 1, /\(oauth_client_not_found\)/);
    expectOneLine(await run(['clients', 'remove', made.client_id, '--yes']), 1, /\(oauth_client_not_found\)/);
    const byId = credentials(await run(['clients', 'create', 'leaving-2', '--public', '--redirect-uri', 'https://l.example/cb', '--json']));
    expect(json(await run(['clients', 'remove', byId.client_id, '--yes', '--json']))).toMatchObject({ client_id: byId.client_id, name: 'leaving-2', type: 'public' });
    const names = json(await run(['clients', 'list', '--json'])).map((c: { name: string }) => c.name);
    expect(names).not.toContain('leaving');
    expect(names).not.toContain('leaving-2');
  }, 300_000);

  it('keeps no secret in clear, and audits each change with actor cli', async () => {
    const made = credentials(await run(['clients', 'create', 'audited', '--redirect-uri', 'https://a.example/cb', '--json']));
    const rotated = credentials(await run(['clients', 'rotate', 'audited', '--json']));
    expect((await run(['clients', 'remove', 'audited', '--yes'])).code).toBe(0);
    if (target.database.url) {
      const client = new pg.Client({ connectionString: target.database.url });
      await client.connect();
      try {
        const rows = await client.query('select * from oauth_clients');
        expect(rows.rowCount).toBeGreaterThan(0);
        expect(JSON.stringify(rows.rows)).not.toMatch(/lkos_/);
        const audit = await client.query("select type, details from audit_events where type like 'oauth_client_%' and details->>'name' = 'audited' order by id");
        expect(audit.rows.map((r) => r.type)).toEqual(['oauth_client_created', 'oauth_client_secret_rotated', 'oauth_client_removed']);
        expect(audit.rows.every((r) => r.details.actor === 'cli' && r.details.clientId === made.client_id)).toBe(true);
        expect(JSON.stringify(audit.rows)).not.toMatch(/lkos_/);
      } finally {
        await client.end();
      }
    }
    // Nor in the server's log (secrets went over its control socket).
    if (target.server) {
      expect(target.server.output()).not.toContain(made.client_secret!.slice(5));
      expect(target.server.output()).not.toContain(rotated.client_secret!.slice(5));
    }
  }, 300_000);
});
