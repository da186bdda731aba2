/**
 * The pages' accent from BRAND_COLOR, readable in both colour schemes. WCAG 2's contrast ratio (AA: 4.5:1 for
 * text) decides: the accent is the brand's colour where it reads on the scheme's backgrounds (the page and its
 * cards), else the nearest shade of it toward black (light scheme) or white (dark scheme) that does; black and
 * white always do, so a shade is always found. A button's text is black or white, whichever reads better on the
 * accent: one of them always reaches 4.5:1 (their ratios with any colour multiply to 21).
 */

type Rgb = readonly [number, number, number];

export const AA_TEXT = 4.5;

const rgbOf = (hex: string): Rgb => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)) as unknown as Rgb;
const hexOf = (rgb: Rgb) => `#${rgb.map((c) => Math.round(c).toString(16).padStart(2, '0')).join('')}`;

/** WCAG 2's relative luminance of an sRGB colour. */
function luminance(hex: string): number {
  const [r, g, b] = rgbOf(hex).map((c) => {
    const s = c / 255;
    return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  }) as unknown as Rgb;
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/** WCAG 2's contrast ratio of two colours, 1 to 21. */
export function contrast(a: string, b: string): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x) as [number, number];
  return (hi + 0.05) / (lo + 0.05);
}

const mix = (from: string, to: string, t: number) => {
  const a = rgbOf(from);
  const b = rgbOf(to);
  return hexOf([0, 1, 2].map((i) => a[i]! + (b[i]! - a[i]!) * t) as unknown as Rgb);
};

/** The colour, or the first shade of it toward `toward` (in hundredths) that reads at 4.5:1 on every background. */
function readableShade(colour: string, backgrounds: readonly string[], toward: string): string {
  for (let step = 0; step <= 100; step += 1) {
    const shade = mix(colour, toward, step / 100);
    if (backgrounds.every((bg) => contrast(shade, bg) >= AA_TEXT)) return shade;
  }
  return toward;
}

/** Black or white, whichever reads better on the colour. */
export const textOn = (colour: string) => (contrast(colour, '#000000') >= contrast(colour, '#ffffff') ? '#000000' : '#ffffff');

export interface Scheme {
  /** Links, focus rings, buttons. */
  accent: string;
  /** A button's text on the accent. */
  accentFg: string;
}

export interface Palette {
  light: Scheme;
  dark: Scheme;
  /** What was changed to keep the text readable, for the start-up log. */
  notes: string[];
}

/** The page and card backgrounds of each scheme (./style.ts). */
export const BACKGROUNDS = { light: ['#ffffff', '#f6f7f9'], dark: ['#16181c', '#202329'] } as const;

/** Latchkey's own accent, unchanged when BRAND_COLOR is unset. */
export const DEFAULT_PALETTE: Palette = { light: { accent: '#1f5fbf', accentFg: '#fff' }, dark: { accent: '#8ab4f8', accentFg: '#0b1a33' }, notes: [] };

export function paletteOf(brandColor: string | undefined): Palette {
  if (!brandColor) return DEFAULT_PALETTE;
  const notes: string[] = [];
  const scheme = (name: 'light' | 'dark', toward: string, way: string): Scheme => {
    const accent = readableShade(brandColor, BACKGROUNDS[name], toward);
    if (accent !== brandColor) {
      const ratio = Math.min(...BACKGROUNDS[name].map((bg) => contrast(brandColor, bg))).toFixed(2);
      notes.push(`BRAND_COLOR ${brandColor} reads at ${ratio}:1 on the ${name} scheme's backgrounds, below WCAG AA's 4.5:1: that scheme uses the ${way} shade ${accent} instead`);
    }
    return { accent, accentFg: textOn(accent) };
  };
  return { light: scheme('light', '#000000', 'darker'), dark: scheme('dark', '#ffffff', 'lighter'), notes };
}
