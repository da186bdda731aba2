import { InvalidArgumentError } from 'commander';

/** Parses an option that takes a whole number (`--limit 50`). */
export function wholeNumber(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('expected a whole number');
  return Number(value);
}

/** Parses a comma-separated option (`--scopes`, `--events`). */
export function commaList(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}
