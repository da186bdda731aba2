/**
 * The languages Latchkey speaks to people in (its hosted pages and its emails), and the choice of one from a
 * browser's `Accept-Language`. English is the default: for a header that asks for nothing Latchkey has, for a
 * header it cannot read, and for a user whose language was never known.
 */
export const LOCALES = ['en', 'fr'] as const;
export type Locale = (typeof LOCALES)[number];
export const DEFAULT_LOCALE: Locale = 'en';

export const isLocale = (value: unknown): value is Locale => typeof value === 'string' && (LOCALES as readonly string[]).includes(value);

/** A stored language (a user's `locale`), as one Latchkey has: a language since dropped, or none, is the default. */
export const localeOr = (value: string | null | undefined): Locale => (isLocale(value) ? value : DEFAULT_LOCALE);

// A header longer than any browser sends, or with more ranges, is read only this far: a bounded cost per request.
const MAX_HEADER = 1024;
const MAX_RANGES = 32;
const RANGE = /^([A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*|\*)$/;
const QUALITY = /^q=(0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/i;

/**
 * The language to answer in, from an `Accept-Language` header (RFC 9110, 12.5.4): its ranges by weight (`q`,
 * 1 when absent; 0 means "not this one"), then in the order given; a range matches by its primary subtag
 * (`fr-CA` is French). `*` stands for the default. A malformed range (a bad tag, a bad weight) is skipped, the
 * others still count; nothing acceptable gives the default.
 */
export function negotiateLocale(header: string | undefined): Locale {
  if (!header) return DEFAULT_LOCALE;
  const ranges: { tag: string; q: number; order: number }[] = [];
  for (const [order, part] of header.slice(0, MAX_HEADER).split(',').slice(0, MAX_RANGES).entries()) {
    const [tag = '', ...params] = part.split(';').map((s) => s.trim());
    if (!RANGE.test(tag)) continue;
    const weights = params.filter((p) => /^q=/i.test(p));
    if (weights.length > 1 || (weights.length === 1 && !QUALITY.test(weights[0]!))) continue;
    const q = weights.length === 1 ? Number(weights[0]!.slice(2)) : 1;
    if (q > 0) ranges.push({ tag: tag.toLowerCase(), q, order });
  }
  ranges.sort((a, b) => b.q - a.q || a.order - b.order);
  for (const { tag } of ranges) {
    if (tag === '*') return DEFAULT_LOCALE;
    const primary = tag.split('-')[0];
    if (isLocale(primary)) return primary;
  }
  return DEFAULT_LOCALE;
}
