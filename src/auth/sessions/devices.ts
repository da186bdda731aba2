import { messagesOf, type DeviceParts } from '../../i18n/catalogue.js';

/**
 * A device as a person recognises it ("Firefox on Windows"), from a User-Agent header: for the new sign-in email,
 * and to tell whether a sign-in comes from a device seen before. Approximate on purpose: a browser's name and
 * its system, never versions (an update is not a new device), and never any text of the header itself, which
 * the client chose.
 */

// Checked in order: Edge, Opera and Samsung Internet also name Chrome and Safari; Chrome also names Safari.
const BROWSERS: readonly (readonly [RegExp, string])[] = [
  [/\bEdg(?:e|A|iOS)?\//, 'Edge'],
  [/\bOPR\/|\bOpera\b/, 'Opera'],
  [/\bSamsungBrowser\//, 'Samsung Internet'],
  [/\bVivaldi\//, 'Vivaldi'],
  [/\bFirefox\/|\bFxiOS\//, 'Firefox'],
  [/\bChrome\/|\bCriOS\/|\bChromium\//, 'Chrome'],
  [/\bSafari\//, 'Safari'],
];

// iOS before macOS (an iPad says "like Mac OS X"), Android before Linux (Android says Linux).
const SYSTEMS: readonly (readonly [RegExp, string])[] = [
  [/\bWindows\b/, 'Windows'],
  [/\biPhone\b|\biPad\b|\biPod\b/, 'iOS'],
  [/\bAndroid\b/, 'Android'],
  [/\bCrOS\b/, 'ChromeOS'],
  [/\bMacintosh\b|\bMac OS X\b/, 'macOS'],
  [/\bLinux\b/, 'Linux'],
];

const find = (list: readonly (readonly [RegExp, string])[], userAgent: string) => list.find(([pattern]) => pattern.test(userAgent))?.[1];

/** The browser and the system a User-Agent header names, each when it names one Latchkey knows. */
export function deviceParts(userAgent: string | null | undefined): DeviceParts {
  if (!userAgent) return {};
  const ua = userAgent.slice(0, 512);
  return { browser: find(BROWSERS, ua), system: find(SYSTEMS, ua) };
}

/**
 * "Firefox on Windows", "Safari on iOS", "Chrome", "a browser on Android", or "an unknown device": always in
 * English, as devices are compared by it; a page or an email names it in its reader's words from `deviceParts`.
 */
export const describeDevice = (userAgent: string | null | undefined): string => messagesOf('en').mail.device(deviceParts(userAgent));
