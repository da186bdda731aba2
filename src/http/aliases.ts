/**
 * Route names used by the other seed projects' clients, answered by the canonical handler.
 * The chapter's `/api/*` paths are canonical; these share their schemas and behaviour exactly.
 */
export const ROUTE_ALIASES: Readonly<Record<string, readonly string[]>> = {
  '/api/signup': ['/api/register', '/auth/signup'],
  '/api/signin': ['/api/login', '/auth/login'],
  '/api/logout': ['/auth/logout'],
  '/api/dashboard': ['/api/protected', '/auth/user'],
};

/** The canonical path followed by its aliases, each paired with the schema to register it under. */
export function withAliases<S extends { summary?: string; tags?: string[] }>(path: string, schema: S): [string, S][] {
  const aliases = ROUTE_ALIASES[path] ?? [];
  return [
    [path, schema],
    ...aliases.map((alias): [string, S] => [
      alias,
      { ...schema, summary: `${schema.summary ?? ''} (alias of ${path})`.trim(), tags: ['compat'] },
    ]),
  ];
}
