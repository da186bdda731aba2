/**
 * The credentials of an HTTP Basic `Authorization` header (RFC 7617): undefined when the header is absent or of
 * another scheme, `malformed` when it is Basic but cannot be read (not base64, no colon) or is longer than
 * `maxLength`. The parts are as sent: OAuth's form-encoding of them (RFC 6749 §2.3.1) is the caller's.
 */
export function basicCredentials(header: string | undefined, maxLength: number): { id: string; secret: string } | 'malformed' | undefined {
  if (!header || !/^Basic /i.test(header)) return undefined;
  if (header.length > maxLength) return 'malformed';
  const match = /^Basic[ ]+([A-Za-z0-9+/]+={0,2})[ ]*$/i.exec(header);
  if (!match) return 'malformed';
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return 'malformed';
  return { id: decoded.slice(0, colon), secret: decoded.slice(colon + 1) };
}
