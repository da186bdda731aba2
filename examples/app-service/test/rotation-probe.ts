import { decodeProtectedHeader } from 'jose';

export interface ProbeSummary {
  /** Every signing key (kid) whose tokens the probe got. */
  keys: Set<string>;
  verified: number;
  failures: { kid: string; status: number; body: string }[];
}

export interface RotationProbe {
  keys(): Set<string>;
  pause(): void;
  resume(): void;
  stop(): Promise<ProbeSummary>;
}

/**
 * Once a second: refreshes a session on Latchkey for a new access token, and has the app verify it and the
 * first token it got from each earlier key, which must all still verify until they expire. Whatever key
 * rotations happen meanwhile, every one of them must answer 200.
 */
export function startRotationProbe(opts: { latchkeyUrl: string; appUrl: () => string; tokens: { refresh_token: string; access_token: string } }): RotationProbe {
  const firstOfKey = new Map<string, string>();
  const summary: ProbeSummary = { keys: new Set(), verified: 0, failures: [] };
  let refreshToken = opts.tokens.refresh_token;
  let paused = false;
  let stopped = false;

  const check = async (kid: string, token: string) => {
    const res = await fetch(`${opts.appUrl()}/me`, { headers: { authorization: `Bearer ${token}` } });
    if (res.status === 200) {
      summary.verified += 1;
      await res.body?.cancel();
    } else summary.failures.push({ kid, status: res.status, body: await res.text() });
  };
  const round = async (token: string) => {
    const kid = decodeProtectedHeader(token).kid!;
    summary.keys.add(kid);
    if (!firstOfKey.has(kid)) firstOfKey.set(kid, token);
    await check(kid, token);
    for (const [k, first] of firstOfKey) if (first !== token) await check(k, first);
  };
  const refresh = async () => {
    const res = await fetch(`${opts.latchkeyUrl}/api/refresh`, { method: 'POST', headers: { authorization: `Bearer ${refreshToken}` } });
    if (res.status !== 200) throw new Error(`refresh failed: ${res.status} ${await res.text()}`);
    const tokens = (await res.json()) as { refresh_token: string; access_token: string };
    refreshToken = tokens.refresh_token;
    return tokens.access_token;
  };

  const loop = (async () => {
    await round(opts.tokens.access_token);
    while (!stopped) {
      await new Promise((r) => setTimeout(r, 1_000));
      if (!paused && !stopped) await round(await refresh());
    }
  })();

  return {
    keys: () => summary.keys,
    pause: () => (paused = true),
    resume: () => (paused = false),
    async stop() {
      stopped = true;
      await loop;
      return summary;
    },
  };
}
