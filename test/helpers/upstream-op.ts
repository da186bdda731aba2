import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeJwt, exportJWK, generateKeyPair, SignJWT, type JWTPayload } from 'jose';
import Provider from 'oidc-provider';

/**
 * A real OpenID Provider (oidc-provider 8) on a loopback port, for the upstream sign-in tests: discovery, JWKS, the
 * authorization endpoint with PKCE, the token and UserInfo endpoints, all as the package serves them. The tests
 * choose who signs in at it (`account`), and may change what its token endpoint answers (`tamper`), to be an
 * upstream that misbehaves: an ID token with another nonce, for another audience, signed with another key.
 *
 *   const op = await startTestOp(['http://latchkey.test/api/signin/op/callback']);
 *   op.account = { sub: 'alice', email: 'alice@example.com', email_verified: true };
 *   const callback = await op.authorize(locationFromLatchkey, 'http://latchkey.test/api/signin/op/callback');
 */

export interface OpAccount {
  sub: string;
  email?: string;
  email_verified?: boolean;
  name?: string;
}

export interface TestOp {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** Who signs in at the next authorization. */
  account: OpAccount;
  /** Changes the token endpoint's JSON answer before it leaves (a test's tampering); unset: as the provider made it. */
  tamper: ((body: Record<string, unknown>) => Promise<void> | void) | undefined;
  /** Signs claims as the provider signs its ID tokens (its own key). */
  sign(claims: JWTPayload): Promise<string>;
  /** Signs claims with a key that is not the provider's. */
  signElsewhere(claims: JWTPayload): Promise<string>;
  /** The ID token's claims of an answer `tamper` sees. */
  claimsOf(idToken: string): JWTPayload;
  /** Follows an authorization URL through the provider (signing `account` in) up to the redirect to `until`: that URL. */
  authorize(url: string, until: string): Promise<string>;
  close(): Promise<void>;
}

export async function startTestOp(redirectUris: string[], clientId = 'latchkey-test'): Promise<TestOp> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const other = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(privateKey)), kid: 'op-key', alg: 'RS256', use: 'sig' };
  const http = createServer();
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  const op = { issuer, clientId, clientSecret: 'op-client-secret-of-latchkey', account: { sub: 'nobody' }, tamper: undefined } as TestOp;
  const provider = new Provider(issuer, {
    clients: [{ client_id: clientId, client_secret: op.clientSecret, redirect_uris: redirectUris, response_types: ['code'], grant_types: ['authorization_code'] }],
    jwks: { keys: [jwk] },
    findAccount: (_ctx: unknown, id: string) => ({ accountId: id, claims: () => ({ ...op.account, sub: id }) }),
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    features: { devInteractions: { enabled: false } },
    interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
    cookies: { keys: ['test-op-cookies'] },
    pkce: { required: () => true },
    // Consent is not what these tests are about: every authorization is granted what it asks.
    async loadExistingGrant(ctx: { oidc: { provider: { Grant: new (o: object) => { addOIDCScope(s: string): void; save(): Promise<string> } }; client: { clientId: string }; session: { accountId: string } } }) {
      const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
      grant.addOIDCScope('openid email profile');
      await grant.save();
      return grant;
    },
  });
  provider.use(async (ctx: { path: string; body: unknown }, next: () => Promise<void>) => {
    await next();
    if (ctx.path === '/token' && op.tamper && ctx.body && typeof ctx.body === 'object') await op.tamper(ctx.body as Record<string, unknown>);
  });
  const callback = provider.callback();
  http.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (!req.url?.startsWith('/interaction/')) return callback(req, res);
    // The login step: whoever the test chose signs in.
    void provider.interactionFinished(req, res, { login: { accountId: op.account.sub } }, { mergeWithLastSubmission: false }).catch((err: Error) => {
      res.statusCode = 500;
      res.end(err.message);
    });
  });
  const signWith = (key: CryptoKey | Uint8Array | object, kid: string) => (claims: JWTPayload) =>
    new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid }).sign(key as CryptoKey);
  op.sign = signWith(privateKey, 'op-key');
  op.signElsewhere = signWith(other.privateKey, 'op-key');
  op.claimsOf = (idToken) => decodeJwt(idToken);
  op.authorize = (url, until) => follow(url, until);
  op.close = async () => {
    http.closeAllConnections();
    await new Promise<void>((resolve) => http.close(() => resolve()));
  };
  return op;
}

/** Follows redirects (with a cookie jar of its own: a fresh browser at the provider) until one goes to `until`. */
export async function follow(start: string, until: string): Promise<string> {
  const jar = new Map<string, string>();
  let url = start;
  for (let hops = 0; hops < 12; hops += 1) {
    if (url.startsWith(until)) return url;
    const res = await fetch(url, { redirect: 'manual', headers: jar.size ? { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') } : {} });
    for (const line of res.headers.getSetCookie()) {
      const [pair = ''] = line.split(';');
      const at = pair.indexOf('=');
      jar.set(pair.slice(0, at), pair.slice(at + 1));
    }
    const location = res.headers.get('location');
    if (!location) throw new Error(`${res.status} at ${url}: ${(await res.text()).slice(0, 500)}`);
    url = new URL(location, url).href;
  }
  throw new Error(`no redirect to ${until}`);
}
