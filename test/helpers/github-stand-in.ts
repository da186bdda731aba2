import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A stand-in for GitHub's OAuth app endpoints, on a loopback port: the one fake of the upstream tests, since GitHub
 * cannot run here. It answers as GitHub documents them, as a GitHub Enterprise Server lays them out (the web pages at
 * its root, the API under /api/v3): `/login/oauth/authorize` (sends the browser straight back with a code, the user
 * having agreed), `/login/oauth/access_token` (checks the client, the code once, the redirect URI and the PKCE
 * verifier; a refusal is a 200 with `error`, as GitHub's is), `/api/v3/user` and `/api/v3/user/emails`.
 */

export interface GithubUser {
  id: number;
  login: string;
  name: string | null;
  emails: { email: string; primary: boolean; verified: boolean }[];
}

export interface GithubStandIn {
  /** Its web address: the provider's issuer. */
  url: string;
  clientId: string;
  clientSecret: string;
  /** Who agrees at the next authorization. */
  user: GithubUser;
  /** What the token endpoint was asked, one line per request: `ok`, or why it refused. */
  exchanges: string[];
  close(): Promise<void>;
}

export async function startGithubStandIn(): Promise<GithubStandIn> {
  const codes = new Map<string, { challenge: string; redirectUri: string; user: GithubUser }>();
  const tokens = new Map<string, GithubUser>();
  const gh = { clientId: 'Iv1.latchkeytest', clientSecret: 'github-secret-of-latchkey', exchanges: [] as string[] } as GithubStandIn;
  const json = (res: ServerResponse, status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  const bodyOf = async (req: IncomingMessage) => {
    let text = '';
    for await (const chunk of req) text += String(chunk);
    return new URLSearchParams(text);
  };
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', gh.url);
    if (req.method === 'GET' && url.pathname === '/login/oauth/authorize') {
      const q = url.searchParams;
      if (q.get('client_id') !== gh.clientId || q.get('code_challenge_method') !== 'S256') return json(res, 400, { error: 'bad request' });
      const code = randomBytes(10).toString('hex');
      codes.set(code, { challenge: q.get('code_challenge') ?? '', redirectUri: q.get('redirect_uri') ?? '', user: gh.user });
      const back = new URL(q.get('redirect_uri')!);
      back.searchParams.set('code', code);
      back.searchParams.set('state', q.get('state') ?? '');
      return res.writeHead(302, { location: back.href }).end();
    }
    if (req.method === 'POST' && url.pathname === '/login/oauth/access_token') {
      void bodyOf(req).then((form) => {
        const code = codes.get(form.get('code') ?? '');
        codes.delete(form.get('code') ?? '');
        const refusal = !code
          ? 'bad_verification_code'
          : form.get('client_id') !== gh.clientId || form.get('client_secret') !== gh.clientSecret
            ? 'incorrect_client_credentials'
            : form.get('redirect_uri') !== code.redirectUri
              ? 'redirect_uri_mismatch'
              : createHash('sha256').update(form.get('code_verifier') ?? '').digest('base64url') !== code.challenge
                ? 'bad_verification_code'
                : undefined;
        gh.exchanges.push(refusal ?? 'ok');
        if (refusal || !code) return json(res, 200, { error: refusal });
        const token = `gho_${randomBytes(16).toString('hex')}`;
        tokens.set(token, code.user);
        return json(res, 200, { access_token: token, token_type: 'bearer', scope: 'read:user,user:email' });
      });
      return;
    }
    const user = tokens.get((req.headers.authorization ?? '').replace(/^Bearer /, ''));
    if (!user) return json(res, 401, { message: 'Bad credentials' });
    if (url.pathname === '/api/v3/user') return json(res, 200, { id: user.id, login: user.login, name: user.name, email: null });
    if (url.pathname === '/api/v3/user/emails') return json(res, 200, user.emails.map((e) => ({ ...e, visibility: null })));
    return json(res, 404, { message: 'Not Found' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  gh.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  gh.close = async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return gh;
}
