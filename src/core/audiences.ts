/**
 * Whether `value`, an audience an operator typed, names `audience` in any spelling: case, spaces around
 * it, trailing slashes, quotes, or as one entry of a JSON array or of a list split by commas or spaces.
 * Relying parties compare audiences loosely (some lower-case them, some take lists), so a logout token
 * that comes near the access-token audience could be taken for an access token somewhere.
 */
export function namesAudience(value: string, audience: string): boolean {
  const wanted = normalizeAudience(audience);
  return audienceEntries(value).some((entry) => normalizeAudience(entry) === wanted);
}

function audienceEntries(value: string): string[] {
  const trimmed = value.trim();
  if (trimmed.startsWith('[')) {
    try {
      const parsed: unknown = JSON.parse(trimmed);
      if (Array.isArray(parsed)) return [value, ...parsed.map(String)];
    } catch {
      // Not JSON: split as a list below.
    }
  }
  return [value, ...value.split(/[\s,[\]]+/u)];
}

function normalizeAudience(value: string): string {
  return value.trim().replace(/^["']+|["']+$/gu, '').trim().replace(/\/+$/u, '').toLowerCase();
}
