import { existsSync } from 'node:fs';
import { createVerifier } from '@latchkey/verify';
import { buildApp } from './app.js';
import { loadConfig } from './config.js';
import { openDatabase } from './db.js';

// Settings may be lines of the app's own .env (examples/app-service/.env, wherever it is started from), as
// its README's walk-through writes them; real environment variables win (loadEnvFile never overwrites one).
const envFile = new URL('../.env', import.meta.url);
if (existsSync(envFile)) process.loadEnvFile(envFile);

let config;
try {
  config = loadConfig(process.env);
} catch (err) {
  console.error((err as Error).message);
  process.exit(1);
}
const db = await openDatabase(config);
const verifier = createVerifier({
  issuer: config.issuer,
  audience: config.audience,
  jwksUrl: `${config.latchkeyUrl}/.well-known/jwks.json`,
  feed: config.feed && { url: `${config.latchkeyUrl}/api/revocations/stream`, ...config.feed },
});
let ready = false;
const app = buildApp({ config, db, verifier, ready: () => ready });
if (!config.feed) app.log.warn('no LATCHKEY_CLIENT_ID: without the revocation feed, a logout reaches this service only when its tokens expire');
// Latchkey may start after this service: keep serving (verification answers 503 meanwhile) and say when it is there.
const waitForLatchkey = async (delay = 1000): Promise<void> => {
  try {
    await verifier.ready();
    ready = true;
    app.log.info({ latchkey: config.latchkeyUrl }, 'Latchkey reached: keys loaded, revocations replayed');
  } catch (err) {
    app.log.warn({ err: (err as Error).message }, 'Latchkey not reached yet');
    await new Promise((r) => setTimeout(r, delay));
    return waitForLatchkey(Math.min(delay * 2, 30_000));
  }
};
void waitForLatchkey();

await app.listen({ host: config.host, port: config.port });

let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const)
  process.once(signal, async () => {
    if (stopping) return;
    stopping = true;
    await app.close();
    verifier.close();
    await db.close();
    process.exit(0);
  });
