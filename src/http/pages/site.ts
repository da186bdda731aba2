import type { Config } from '../../config.js';
import { paletteOf } from './colours.js';
import { buildStylesheet, type Stylesheet } from './style.js';

/**
 * Whose the pages say they are (BRAND_NAME, BRAND_LOGO_URL) and the stylesheet made with BRAND_COLOR: built once
 * per configuration, whichever of the hosted pages or the email links' pages asks first.
 */
export interface Site {
  brand: string;
  logoUrl: string | undefined;
  /** The logo's origin when another server serves it: the one origin besides 'self' the pages' `img-src` allows. */
  logoOrigin: string | undefined;
  stylesheet: Stylesheet;
  /** What the accent changed of BRAND_COLOR to keep text readable, for the start-up log. */
  notes: readonly string[];
}

const sites = new WeakMap<object, Site>();

export function siteOf(config: Pick<Config, 'brand'>): Site {
  const built = sites.get(config.brand);
  if (built) return built;
  const { name, logoUrl, color } = config.brand;
  const palette = paletteOf(color);
  const site: Site = {
    brand: name,
    logoUrl,
    logoOrigin: logoUrl && !logoUrl.startsWith('/') ? new URL(logoUrl).origin : undefined,
    stylesheet: buildStylesheet(palette),
    notes: palette.notes,
  };
  sites.set(config.brand, site);
  return site;
}
