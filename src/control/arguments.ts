import type { Static, TObject } from 'typebox';
import { Value } from 'typebox/value';
import { ControlError } from './protocol.js';

/**
 * How an operation's arguments are checked: a TypeBox schema (the same field declarations as the HTTP
 * routes, src/contracts/), with what a schema cannot say. Whoever sent them, the side that runs the
 * operation checks them; a problem is a ControlError `invalid_arguments` listing every field at fault.
 */
export interface ArgumentsSpec<S extends TObject> {
  schema: S;
  /** String fields trimmed before they are checked, as the domain stores them. */
  trim?: readonly string[];
  /** What to say of a field that fails, by its path (`email`, `scopes.*` for any item). */
  messages?: Readonly<Record<string, string>>;
  /** A check across fields, once each field passed: the problem, or undefined. */
  refine?: (args: Static<S>) => string | undefined;
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

function trimmed(value: unknown, fields: readonly string[] | undefined): unknown {
  if (!fields || !isRecord(value)) return value;
  const copy = { ...value };
  for (const field of fields) if (typeof copy[field] === 'string') copy[field] = (copy[field] as string).trim();
  return copy;
}

/** One line per field at fault; the value of a field (a password) is never repeated. */
function problems(spec: ArgumentsSpec<TObject>, value: unknown): string[] {
  const byField = new Map<string, string>();
  for (const error of Value.Errors(spec.schema, value)) {
    // The `false` schema of additionalProperties reports each extra key twice: its own error says it better.
    if (error.keyword === 'boolean') continue;
    if (error.keyword === 'additionalProperties') {
      for (const key of (error.params as { additionalProperties: string[] }).additionalProperties) byField.set(`+${key}`, `Unrecognized key: "${key}"`);
      continue;
    }
    if (error.keyword === 'required') {
      for (const key of (error.params as { requiredProperties: string[] }).requiredProperties) byField.set(key, `${key}: is required`);
      continue;
    }
    const field = error.instancePath.slice(1).replaceAll('/', '.');
    if (byField.has(field)) continue;
    const message = spec.messages?.[field.replace(/\.\d+(?=\.|$)/g, '.*')] ?? error.message;
    byField.set(field, field ? `${field}: ${message}` : message);
  }
  return [...byField.values()];
}

/** The arguments, checked (and trimmed where the spec says); a ControlError `invalid_arguments` otherwise. */
export function checkArguments<S extends TObject>(spec: ArgumentsSpec<S>, raw: unknown): Static<S> {
  const value = trimmed(raw ?? {}, spec.trim);
  const found = problems(spec as unknown as ArgumentsSpec<TObject>, value);
  if (found.length > 0) throw new ControlError('invalid_arguments', found.join('; '));
  const args = value as Static<S>;
  const problem = spec.refine?.(args);
  if (problem) throw new ControlError('invalid_arguments', problem);
  return args;
}
