/** The app service's settings, read once from the environment; every problem is listed at start. */
export interface AppConfig {
  host: string;
  port: number;
  /** Where Latchkey answers: its JWKS and revocation feed are fetched from here. */
  latchkeyUrl: string;
  /** `iss` of Latchkey's tokens: its JWT_ISSUER, by default its PUBLIC_URL. */
  issuer: string;
  audience: string;
  /** A Latchkey service client with the `revocations:read` scope, for the revocation feed. */
  feed?: { clientId: string; clientSecret: string };
  /** The signing secret Latchkey gave the webhook endpoint (`whsec_…`). */
  webhookSecret: string;
  /** PostgreSQL, or the embedded engine in `dataDir` when unset. */
  databaseUrl?: string;
  dataDir: string;
  logLevel: string;
}

export function loadConfig(env: Record<string, string | undefined>): AppConfig {
  const problems: string[] = [];
  const required = (name: string) => {
    const value = env[name];
    if (!value) problems.push(`${name} is required`);
    return value ?? '';
  };
  const latchkeyUrl = required('LATCHKEY_URL').replace(/\/+$/, '');
  const webhookSecret = required('LATCHKEY_WEBHOOK_SECRET');
  if (webhookSecret && !webhookSecret.startsWith('whsec_')) problems.push('LATCHKEY_WEBHOOK_SECRET must be the whsec_… secret that `latchkey webhooks add` printed');
  const port = Number(env.PORT ?? 8001);
  if (!Number.isInteger(port) || port < 0 || port > 65535) problems.push('PORT must be a port number');
  const clientId = env.LATCHKEY_CLIENT_ID;
  const clientSecret = env.LATCHKEY_CLIENT_SECRET;
  if (Boolean(clientId) !== Boolean(clientSecret)) problems.push('LATCHKEY_CLIENT_ID and LATCHKEY_CLIENT_SECRET go together');
  if (problems.length > 0) throw new Error(`the app service cannot start:\n  ${problems.join('\n  ')}`);
  return {
    host: env.HOST ?? '127.0.0.1',
    port,
    latchkeyUrl,
    issuer: env.LATCHKEY_ISSUER ?? latchkeyUrl,
    audience: env.LATCHKEY_AUDIENCE ?? 'latchkey',
    feed: clientId && clientSecret ? { clientId, clientSecret } : undefined,
    webhookSecret,
    databaseUrl: env.DATABASE_URL || undefined,
    dataDir: env.DATA_DIR ?? new URL('../data', import.meta.url).pathname,
    logLevel: env.LOG_LEVEL ?? 'info',
  };
}
