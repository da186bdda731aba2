import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import type { AuditEventType } from '../../src/core/audit.js';
import { messagesOf } from '../../src/i18n/catalogue.js';
import { EVENTS } from '../../src/i18n/fr/pages.js';
import { LOCALES, negotiateLocale } from '../../src/i18n/locale.js';
import { FORGOT_PASSWORD_MESSAGE } from '../../src/http/routes/password-reset/forgot-password.js';
import { RESEND_MESSAGE } from '../../src/http/routes/account/verify-email.js';
import { AA_TEXT, BACKGROUNDS, contrast, DEFAULT_PALETTE, paletteOf } from '../../src/http/pages/colours.js';

/** Every path to a leaf of the catalogue (a text, or a function that makes one), with the leaf's kind. */
function leaves(value: unknown, path = ''): string[] {
  if (typeof value === 'string') return [`${path}: text`];
  if (typeof value === 'function') return [`${path}: function`];
  return Object.entries(value as Record<string, unknown>).flatMap(([key, v]) => leaves(v, path ? `${path}.${key}` : key));
}

describe('the catalogue', () => {
  it('has every key of English in every language, each of the same kind, and no other', () => {
    const english = leaves(messagesOf('en'));
    expect(english.length).toBeGreaterThan(150);
    for (const locale of LOCALES) expect(leaves(messagesOf(locale)), locale).toEqual(english);
  });

  it('has no empty text and no English left in French, beyond words spelt alike', () => {
    const en = leaves(messagesOf('en')).length;
    const texts = (locale: 'en' | 'fr') => {
      const out: string[] = [];
      const walk = (v: unknown) => (typeof v === 'string' ? out.push(v) : typeof v === 'object' && v && Object.values(v).forEach(walk));
      walk(messagesOf(locale));
      return out;
    };
    expect(en).toBeGreaterThan(0);
    for (const text of texts('fr')) expect(text.trim()).not.toBe('');
    // Words French spells as English does.
    const same = texts('fr').filter((text, i) => text === texts('en')[i]);
    expect(same).toEqual(['Code']);
  });

  it('makes sentences with values, the values as given (a page escapes the whole)', () => {
    const fr = messagesOf('fr');
    expect(fr.pages.signup.passwordHint(12)).toBe('Au moins 12 caractères ; une longue phrase est idéale.');
    expect(fr.pages.credentials.typeEmail('<b>x</b>@example.com')).toContain('<b>x</b>@example.com');
    expect(fr.pages.mfa.on(1)).toContain('1 code de récupération restant.');
    expect(fr.pages.mfa.on(9)).toContain('9 codes de récupération restants.');
    expect(messagesOf('en').pages.mfa.on(1)).toBe('On: an authenticator app. 1 recovery code left.');
    expect(fr.pages.refused.elsewhere('LINK', 'SETTING')).toEqual(['L’adresse de ce site est ', 'LINK', ' (le ', 'SETTING', ' du serveur) : ouvrez-y ses pages.']);
    expect(fr.mail.device({ browser: 'Firefox', system: 'Windows' })).toBe('Firefox sous Windows');
    expect(fr.mail.device({})).toBe('un appareil inconnu');
  });

  it('says on the pages what the API answers', () => {
    expect(messagesOf('en').pages.forgot.sent).toBe(FORGOT_PASSWORD_MESSAGE);
    expect(messagesOf('en').pages.resend.sent).toBe(`${RESEND_MESSAGE} Open the link it holds, then sign in.`);
  });

  it('names in French every event a user’s activity lists', () => {
    // Every audit event type, so that a new one fails here until it is sorted: a user's, or an operator's alone.
    const types = {
      signup: 'user', signin_succeeded: 'user', signin_failed: 'user', signin_code_requested: 'user', account_locked: 'user',
      refresh_token_reused: 'user', logout: 'user', password_reset_requested: 'user', password_reset_completed: 'user',
      password_changed: 'user', verification_email_requested: 'user', email_verified: 'user', email_change_requested: 'user',
      email_changed: 'user', email_change_cancelled: 'user', profile_updated: 'user', mfa_required: 'user', mfa_enabled: 'user',
      mfa_disabled: 'user', recovery_codes_regenerated: 'user', passkey_renamed: 'user', passkey_clone_suspected: 'user',
      mfa_step_up: 'user', user_created: 'user', user_disabled: 'user', user_enabled: 'user', user_deleted: 'user', user_role_changed: 'user',
      sessions_revoked: 'user', session_revoked: 'user', signing_key_rotated: 'operator', signing_key_revoked: 'operator', service_client_created: 'operator',
      service_client_secret_rotated: 'operator', service_client_removed: 'operator', oauth_client_created: 'operator',
      oauth_client_secret_rotated: 'operator', oauth_client_removed: 'operator', oauth_consent_granted: 'user', oauth_consent_revoked: 'user',
      oauth_code_reused: 'user', webhook_added: 'operator',
      webhook_removed: 'operator', webhook_replayed: 'operator',
      upstream_provider_added: 'operator', upstream_provider_removed: 'operator', upstream_linked: 'user', upstream_unlinked: 'user',
    } as const satisfies Record<AuditEventType, 'user' | 'operator'>;
    const users = Object.entries(types).filter(([, who]) => who === 'user').map(([type]) => type);
    expect(users.filter((type) => !Object.hasOwn(EVENTS, type))).toEqual([]);
    expect(messagesOf('fr').pages.credentials.event('signin_succeeded')).toBe('connexion réussie');
    expect(messagesOf('en').pages.credentials.event('signin_succeeded')).toBe('signin succeeded');
  });
});

describe('Accept-Language', () => {
  it('picks French for French in any region, and English by default', () => {
    expect(negotiateLocale('fr-CA')).toBe('fr');
    expect(negotiateLocale('fr-FR,fr;q=0.9,en-US;q=0.8,en;q=0.7')).toBe('fr');
    expect(negotiateLocale('FR')).toBe('fr');
    expect(negotiateLocale('en-GB')).toBe('en');
    expect(negotiateLocale(undefined)).toBe('en');
    expect(negotiateLocale('')).toBe('en');
  });

  it('goes by weight, then by order', () => {
    expect(negotiateLocale('fr;q=0.1, en')).toBe('en');
    expect(negotiateLocale('en;q=0.5, fr')).toBe('fr');
    expect(negotiateLocale('de, fr;q=0.8, en;q=0.7')).toBe('fr');
    expect(negotiateLocale('de, en;q=0.8, fr;q=0.8')).toBe('en');
    expect(negotiateLocale('fr;q=0.8, en;q=0.8')).toBe('fr');
    // q=0: not this one.
    expect(negotiateLocale('fr;q=0, en;q=0.1')).toBe('en');
    expect(negotiateLocale('en;q=0, fr;q=0.1')).toBe('fr');
    // `*`: anything, the default for it.
    expect(negotiateLocale('*, fr;q=0.5')).toBe('en');
    expect(negotiateLocale('de, *;q=0.5, fr;q=0.1')).toBe('en');
  });

  it('skips what it cannot read and keeps the rest; garbage alone is English', () => {
    for (const header of ['garbage!!', ';;;', ',,,', 'q=1', 'fr;q=2', 'fr;q=abc', 'fr;q=0.5;q=0.9', '12345', 'fr_FR', 'x'.repeat(5000), '\u0000fr']) {
      expect(negotiateLocale(header), JSON.stringify(header.slice(0, 40))).toBe('en');
    }
    expect(negotiateLocale('fr;q=2, de, fr-CA;q=0.5')).toBe('fr');
    expect(negotiateLocale('!!, fr')).toBe('fr');
    expect(negotiateLocale('fr ; q=0.7 , en;q=0.6')).toBe('fr');
    // Read only so far: a French range after a megabyte of ranges is not looked for.
    expect(negotiateLocale(`${'de,'.repeat(1000)}fr`)).toBe('en');
  });
});

describe('BRAND_COLOR', () => {
  const readable = (accent: string, scheme: 'light' | 'dark') => BACKGROUNDS[scheme].every((bg) => contrast(accent, bg) >= AA_TEXT);

  it('leaves the stylesheet as it was when unset', () => {
    expect(paletteOf(undefined)).toBe(DEFAULT_PALETTE);
  });

  it('keeps a colour that reads on a scheme, and takes the nearest shade that does where it does not, saying so', () => {
    for (const colour of ['#1f5fbf', '#ffcc00', '#00ff00', '#000000', '#ffffff', '#7f7f7f', '#b00020', '#0b1a33']) {
      const palette = paletteOf(colour);
      for (const scheme of ['light', 'dark'] as const) {
        const { accent, accentFg } = palette[scheme];
        expect(readable(accent, scheme), `${colour} ${scheme}: ${accent}`).toBe(true);
        expect(contrast(accent, accentFg), `${colour} ${scheme}: text on ${accent}`).toBeGreaterThanOrEqual(AA_TEXT);
        if (readable(colour, scheme)) expect(accent).toBe(colour);
        else expect(palette.notes.some((n) => n.includes(`${scheme} scheme`) && n.includes(accent)), `${colour} ${scheme}`).toBe(true);
      }
    }
    // A dark blue reads on white, not on the dark background: a lighter blue there.
    const blue = paletteOf('#1f5fbf');
    expect(blue.light.accent).toBe('#1f5fbf');
    expect(blue.dark.accent).not.toBe('#1f5fbf');
    expect(blue.notes).toHaveLength(1);
    expect(blue.notes[0]).toMatch(/BRAND_COLOR #1f5fbf reads at [0-9.]+:1 on the dark scheme's backgrounds, below WCAG AA's 4\.5:1: that scheme uses the lighter shade #[0-9a-f]{6} instead/);
    // Yellow: darker on white, as it is on the dark background, with black text on its buttons.
    const yellow = paletteOf('#ffcc00');
    expect(yellow.light.accent).not.toBe('#ffcc00');
    expect(yellow.dark).toEqual({ accent: '#ffcc00', accentFg: '#000000' });
  });

  it('is refused at start-up unless it is #rrggbb, with what was expected', () => {
    for (const value of ['red', '#fff', '#12345g', '1f5fbf', '#1f5fbf80', 'rgb(0,0,0)']) {
      expect(() => loadConfig({ BRAND_COLOR: value }), value).toThrow(ConfigError);
      expect(() => loadConfig({ BRAND_COLOR: value }), value).toThrow(`BRAND_COLOR: expected a colour as #rrggbb, such as #1f5fbf, got "${value}"`);
    }
    expect(loadConfig({ BRAND_COLOR: '#1F5FBF' }).brand.color).toBe('#1f5fbf');
  });
});

describe('BRAND_LOGO_URL and BRAND_NAME', () => {
  it('takes an https URL or a path on this server, nothing else', () => {
    for (const value of ['https://cdn.example.com/logo.svg', '/brand/logo.png', '/logo.svg?v=2']) expect(loadConfig({ BRAND_LOGO_URL: value }).brand.logoUrl).toBe(value);
    for (const value of ['http://cdn.example.com/logo.svg', '//evil.example/logo.svg', 'javascript:alert(1)', 'data:image/svg+xml,<svg/>', 'logo.svg', '/\\evil.example', '/a b', 'https://user:pw@cdn.example.com/l.svg']) {
      expect(() => loadConfig({ BRAND_LOGO_URL: value }), value).toThrow(/BRAND_LOGO_URL: expected an https:\/\/ URL or a path on this server/);
    }
  });

  it('is Latchkey by default, and never empty', () => {
    expect(loadConfig({}).brand).toEqual({ name: 'Latchkey', logoUrl: undefined, color: undefined });
    expect(() => loadConfig({ BRAND_NAME: '' })).toThrow(/BRAND_NAME/);
  });
});
