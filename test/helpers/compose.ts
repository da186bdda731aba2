import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

export type Variables = Readonly<Record<string, string | undefined>>;

export interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile?: string };
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string | number | boolean | null> | string[];
  ports?: (string | { target: number; published?: string | number; host_ip?: string })[];
  volumes?: (string | { type: string; source?: string; target: string })[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  healthcheck?: { test: string[] | string };
  network_mode?: string;
  stop_grace_period?: string;
}

export interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

/** A `${VAR:?message}` (or `${VAR?message}`) whose variable is missing: Compose stops with the message. */
export class MissingVariableError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
  }
}

// $$, $VAR, ${VAR}, and ${VAR} followed by :- - :? ? :+ or + and a word without braces (no nesting).
const VARIABLE = /\$(?:(\$)|\{([A-Za-z_]\w*)(?:(:?[-?+])([^{}]*))?\}|([A-Za-z_]\w*))/g;

/** Compose's interpolation of one string (the Compose Specification, "Interpolation"), nesting aside. */
export function interpolate(text: string, variables: Variables): string {
  const result = text.replace(VARIABLE, (_match, dollar, braced, operator, word: string, bare) => {
    if (dollar) return '$';
    const name = (braced ?? bare) as string;
    const value = variables[name];
    const unset = value === undefined;
    const empty = unset || value === '';
    switch (operator as string | undefined) {
      case ':-':
        return empty ? word : value;
      case '-':
        return unset ? word : value;
      case ':?':
        if (empty) throw new MissingVariableError(name, word);
        return value;
      case '?':
        if (unset) throw new MissingVariableError(name, word);
        return value;
      case ':+':
        return empty ? '' : word;
      case '+':
        return unset ? '' : word;
      default:
        return value ?? '';
    }
  });
  if (text.replaceAll('$$', '').replace(VARIABLE, '').includes('${')) throw new Error(`interpolation this helper does not know: ${text}`);
  return result;
}

/** Every string in a parsed Compose file, interpolated; keys stay as they are, as in Compose. */
export function interpolateAll<T>(value: T, variables: Variables): T {
  if (typeof value === 'string') return interpolate(value, variables) as T;
  if (Array.isArray(value)) return value.map((v: unknown) => interpolateAll(v, variables)) as T;
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolateAll(v, variables)])) as T;
  return value;
}

/** The names of the variables a Compose file reads. */
export function variableNames(text: string): Set<string> {
  return new Set([...text.matchAll(VARIABLE)].map((m) => m[2] ?? m[5]).filter((n): n is string => n !== undefined));
}

export function readComposeFile(path: string, variables: Variables): ComposeFile {
  return interpolateAll(parse(readFileSync(path, 'utf8')) as ComposeFile, variables);
}

/** A .env file as Compose reads it: NAME=value lines, # comments, optional quotes. */
export function readEnvFile(path: string): Record<string, string> {
  const variables: Record<string, string> = {};
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const match = /^\s*([A-Za-z_]\w*)\s*=\s*(.*?)\s*$/.exec(line);
    if (match) variables[match[1]!] = match[2]!.replace(/^(["'])(.*)\1$/, '$2');
  }
  return variables;
}

/** A service's `environment`, map or list, as the strings its process sees. */
export function environmentOf(service: ComposeService): Record<string, string> {
  const env = service.environment ?? {};
  if (Array.isArray(env)) return Object.fromEntries(env.map((e) => [e.split('=')[0]!, e.slice(e.indexOf('=') + 1)]));
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v === null ? '' : String(v)]));
}

export interface PublishedPort {
  hostIp: string | undefined;
  published: string | undefined;
  target: number;
}

/** A service's `ports`, short syntax ([ip:]host:container[/protocol]) or long. */
export function portsOf(service: ComposeService): PublishedPort[] {
  return (service.ports ?? []).map((p) => {
    if (typeof p !== 'string') return { hostIp: p.host_ip, published: p.published?.toString(), target: p.target };
    const parts = p.replace(/\/\w+$/, '').split(':');
    const target = Number(parts.pop());
    return { hostIp: parts.length === 2 ? parts[0] : undefined, published: parts.at(-1), target };
  });
}

export function dependsOn(service: ComposeService): Record<string, string> {
  const deps = service.depends_on ?? {};
  if (Array.isArray(deps)) return Object.fromEntries(deps.map((d) => [d, 'service_started']));
  return Object.fromEntries(Object.entries(deps).map(([name, d]) => [name, d.condition ?? 'service_started']));
}
