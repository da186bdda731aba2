/**
 * Where a browser goes after signing in: `return_to` when it is a path of this site, or an address on this origin
 * or on one of ALLOWED_REDIRECT_URLS' origins; /account otherwise. Never an open redirect: `//evil.example`,
 * `/\evil.example`, `https:evil.example`, control characters and encoded tricks all resolve elsewhere or are
 * refused, because the address is resolved as a browser would resolve it and its origin compared.
 */
export const DEFAULT_RETURN_TO = '/account';

export function safeReturnTo(value: string | undefined, ownOrigin: string, allowedOrigins: readonly string[]): string {
  if (!value || value.length > 2048 || /[\p{Cc}\\]/u.test(value)) return DEFAULT_RETURN_TO;
  let url: URL;
  try {
    url = new URL(value, ownOrigin);
  } catch {
    return DEFAULT_RETURN_TO;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return DEFAULT_RETURN_TO;
  if (url.origin === ownOrigin) {
    // A path of this site, as the browser will read it; never back to the sign-in itself.
    // `/.//evil.example` resolves to the path `//evil.example`, which a Location header would make another host.
    const path = `${url.pathname}${url.search}${url.hash}`;
    if (path.startsWith('//') || url.pathname === '/login' || url.pathname.startsWith('/login/')) return DEFAULT_RETURN_TO;
    return path;
  }
  return allowedOrigins.includes(url.origin) && !url.username && !url.password ? url.href : DEFAULT_RETURN_TO;
}
