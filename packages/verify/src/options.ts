/**
 * A numeric option as given, or its default; a misconfigured value (NaN, Infinity, negative, a string from
 * an unset environment variable) throws at once, rather than disabling the check it bounds: every
 * comparison with NaN is false, so `age > NaN` would accept any age.
 */
export function numberOption(name: string, value: number | undefined, fallback: number, { min = 0, integer = false } = {}): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || (integer && !Number.isInteger(value))) {
    throw new TypeError(`${name} must be a finite ${integer ? 'integer' : 'number'} of at least ${min}, not ${String(value)}`);
  }
  return value;
}
