import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runOperation } from '../../../src/control/operations.js';
import { PUBLIC_URL, startTestApp, type TestApp } from '../../../test/helpers/app.js';
import { createVerifier, LatchkeyFeedError, type Verifier } from '../src/index.js';
import { memoryLogger } from './helpers.js';

/**
 * A feed URL that does not answer an event stream (a typo, the server's root, another route of Latchkey):
 * ready() rejects at once with what was asked and what came back, instead of retrying for ever.
 */
describe('@latchkey/verify given a wrong feed URL', () => {
  let t: TestApp;
  let url: string;
  let client: { client_id: string; client_secret: string };
  const verifiers: Verifier[] = [];

  function readyWith(feedUrl: string) {
    const logger = memoryLogger();
    const v = createVerifier({
      issuer: PUBLIC_URL,
      audience: 'latchkey',
      jwksUrl: `${url}/.well-known/jwks.json`,
      feed: { url: feedUrl, clientId: client.client_id, clientSecret: client.client_secret },
      logger,
    });
    verifiers.push(v);
    const settled = v.ready().then(
      () => undefined,
      (e: unknown) => e,
    );
    const timeout = new Promise((resolve) => setTimeout(() => resolve('still pending after 5 s'), 5_000));
    return { outcome: Promise.race([settled, timeout]), logger };
  }

  beforeAll(async () => {
    t = await startTestApp();
    url = await t.listen();
    client = (await runOperation(t.deps as never, 'services.create', { name: 'feed-url', scopes: ['revocations:read'] }, { actor: 'test' })) as typeof client;
  });
  afterAll(async () => {
    for (const v of verifiers) v.close();
    await t?.close();
  });

  it("rejects for the server's root, naming the URL, the status and the error code, and suggests the stream's path", async () => {
    for (const root of [url, `${url}/`]) {
      const { outcome, logger } = readyWith(root);
      const err = await outcome;
      expect(err).toBeInstanceOf(LatchkeyFeedError);
      const { message, status, code } = err as LatchkeyFeedError;
      const answer = await fetch(`${url}/`, { headers: { accept: 'text/event-stream' } });
      const body = (await answer.json().catch(() => ({}))) as { error?: string };
      expect(status).toBe(answer.status);
      expect(message).toContain(root);
      expect(message).toContain(String(answer.status));
      if (body.error) {
        expect(code).toBe(body.error);
        expect(message).toContain(body.error);
      }
      expect(message).toContain(`${url}/api/revocations/stream`);
      // Said once, as an error: not a warning repeated at every reconnection.
      expect(logger.lines.filter((l) => l.level === 'error')).toHaveLength(1);
    }
  });

  it('rejects for a typo in the path, naming the URL, the status and the error code', async () => {
    const typo = `${url}/api/revocation/stream`;
    const err = (await readyWith(typo).outcome) as LatchkeyFeedError;
    expect(err).toBeInstanceOf(LatchkeyFeedError);
    expect(err.status).toBe(404);
    expect(err.message).toContain(typo);
    expect(err.message).toContain('404');
    expect(err.message).toContain(err.code!);
    expect(err.message).not.toContain('did you mean');
  });

  it('rejects for another route of Latchkey that answers JSON with 200 (the JWKS)', async () => {
    const jwks = `${url}/.well-known/jwks.json`;
    const err = (await readyWith(jwks).outcome) as LatchkeyFeedError;
    expect(err).toBeInstanceOf(LatchkeyFeedError);
    expect(err.status).toBe(200);
    expect(err.message).toContain(jwks);
    expect(err.message).toContain('application/json');
    expect(err.message).toContain('text/event-stream');
  });
});
