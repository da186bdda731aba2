import { eq } from 'drizzle-orm';
import type { LightMyRequestResponse } from 'fastify';
import { describe, expect, it } from 'vitest';
import { users } from '../../src/db/schema.js';
import { GOOD_PASSWORD, PUBLIC_URL, signUp, uniqueEmail, useMailingApp, type TestApp } from '../helpers/app.js';
import { describeUnless, ON_POSTGRES } from '../helpers/skip.js';

// The hosted pages and the emails in the browser's language (Accept-Language; English by default), and under the
// operator's brand (BRAND_NAME, BRAND_LOGO_URL, BRAND_COLOR). test/unit/i18n.test.ts checks the catalogue itself.

const ORIGIN = new URL(PUBLIC_URL).origin;
const FR = 'fr-CA,fr;q=0.9,en;q=0.5';

/** A browser as far as these pages go: its cookies, and the language it asks for. */
class Browser {
  readonly jar = new Map<string, string>();
  constructor(
    readonly t: TestApp,
    readonly language?: string,
  ) {}

  private headers(extra: Record<string, string> = {}) {
    return {
      ...(this.language ? { 'accept-language': this.language } : {}),
      ...(this.jar.size ? { cookie: [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ') } : {}),
      ...extra,
    };
  }

  private take(res: LightMyRequestResponse) {
    for (const c of res.cookies as { name: string; value: string; maxAge?: number }[]) {
      if (c.value === '' || c.maxAge === 0) this.jar.delete(c.name);
      else this.jar.set(c.name, c.value);
    }
    return res;
  }

  async get(url: string) {
    return this.take(await this.t.inject({ method: 'GET', url, headers: this.headers() }));
  }

  async post(url: string, fields: Record<string, string>, origin = ORIGIN) {
    const payload = new URLSearchParams(fields).toString();
    return this.take(await this.t.inject({ method: 'POST', url, payload, headers: this.headers({ 'content-type': 'application/x-www-form-urlencoded', origin }) }));
  }

  /** Signs in through /login with the password; the answer to the form. */
  async logIn(user: { email: string; password: string }) {
    const page = await this.get('/login');
    return this.post('/login', { email: user.email, password: user.password, csrf: csrfOf(page.body) });
  }
}

const csrfOf = (body: string) => /name="csrf" value="([^"]+)"/.exec(body)?.[1] ?? '';
const titleOf = (body: string) => /<title>([^<]*)<\/title>/.exec(body)?.[1];

// What a page renders does not depend on the engine: these groups run on the embedded one alone (CI's time).
describeUnless(ON_POSTGRES)('the pages in the language the browser asks for', () => {
  const { t } = useMailingApp();

  it('are French for a French browser, in any region: <html lang>, Content-Language, the title, the labels, the buttons', async () => {
    const res = await new Browser(t, FR).get('/signup');
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('<html lang="fr">');
    expect(res.headers['content-language']).toBe('fr');
    expect(String(res.headers.vary)).toMatch(/Accept-Language/i);
    expect(titleOf(res.body)).toBe('Créer un compte · Latchkey');
    expect(res.body).toContain('<label for="name">Nom</label>');
    expect(res.body).toContain('<label for="email">Adresse e-mail</label>');
    expect(res.body).toContain('<label for="password">Mot de passe</label>');
    expect(res.body).toContain('<button type="submit">Créer le compte</button>');
    expect(res.body).toContain('Au moins 8 caractères ; une longue phrase est idéale.');
    expect(res.body).not.toContain('Create');
  });

  it('are English for English first, for nothing Latchkey speaks, for no header and for garbage', async () => {
    for (const language of ['fr;q=0.1, en', 'de-DE, ja;q=0.9', 'garbage;;q=x, !!', 'fr;q=0', undefined]) {
      const res = await new Browser(t, language).get('/signup');
      expect(res.body, String(language)).toContain('<html lang="en">');
      expect(res.headers['content-language']).toBe('en');
      expect(titleOf(res.body)).toBe('Create an account · Latchkey');
      expect(res.body).toContain('<button type="submit">Create account</button>');
    }
  });

  it('say what is wrong in French, beside each field, and keep what was typed escaped', async () => {
    const b = new Browser(t, FR);
    const page = await b.get('/signup');
    const res = await b.post('/signup', { name: '', email: '"><script>alert(1)</script>', password: '', csrf: csrfOf(page.body) });
    expect(res.statusCode).toBe(422);
    expect(res.body).toContain('<p class="field-error" id="name-error">Saisissez votre nom.</p>');
    expect(res.body).toContain('<p class="field-error" id="email-error">Saisissez une adresse e-mail comme nom@example.com.</p>');
    expect(res.body).toContain('<p class="field-error" id="password-error">Choisissez un mot de passe.</p>');
    expect(res.body).toContain('aria-describedby="name-error"');
    expect(res.body).not.toContain('<script>alert(1)');
    expect(res.body).toContain('&quot;&gt;&lt;script&gt;');
    // An error of the API's, in French too: the address is taken.
    const taken = await signUp(t);
    const again = await b.post('/signup', { name: 'Ada', email: taken.email, password: GOOD_PASSWORD, csrf: csrfOf(page.body) });
    expect(again.statusCode).toBe(409);
    expect(again.body).toContain('Un autre compte a déjà cette adresse e-mail.');
  });

  it('show the account in French, what its owner chose kept as text', async () => {
    const user = await signUp(t, { name: '<img src=x onerror=alert(1)> Zoé' });
    const b = new Browser(t, FR);
    expect((await b.logIn(user)).statusCode).toBe(303);
    const res = await b.get('/account');
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('<html lang="fr">');
    expect(res.body).toContain('<h1>Votre compte</h1>');
    expect(res.body).toContain('Se déconnecter</a>');
    expect(res.body).toContain('<h2>Où vous êtes connecté</h2>');
    expect(res.body).toContain('(ce navigateur)');
    expect(res.body).toContain('<h2>Connexion en deux étapes</h2>');
    expect(res.body).toContain('<li>inscription <span class="hint">');
    expect(res.body).toContain(`<label for="delete-confirm">Saisissez votre adresse e-mail, ${user.email}, pour confirmer</label>`);
    expect(res.body).toContain('value="&lt;img src=x onerror=alert(1)&gt; Zoé"');
    expect(res.body).not.toContain('<img src=x');
    // A notice named in the query, in French.
    const renamed = await b.post('/account/name', { name: 'Zoé', csrf: csrfOf(res.body) });
    expect(renamed.headers.location).toBe('/account?saved=name');
    expect((await b.get('/account?saved=name')).body).toContain('<p class="notice" role="status">Votre nom a été enregistré.</p>');
  });

  it('sign in in French: the form, a wrong password, and the setup of the second factor a role requires', async () => {
    const b = new Browser(t, FR);
    const page = await b.get('/login');
    expect(titleOf(page.body)).toBe('Se connecter · Latchkey');
    expect(page.body).toContain('<label for="email">Adresse e-mail</label>');
    expect(page.body).toContain('<button type="submit">Se connecter</button>');
    expect(page.body).toContain('<a href="/forgot-password">Mot de passe oublié ?</a>');
    expect(page.body).toContain('data-not-used="La clé d’accès n’a pas été utilisée : réessayez, ou choisissez un autre moyen."');
    const user = await signUp(t);
    const wrong = await b.post('/login', { email: user.email, password: 'not the password at all', csrf: csrfOf(page.body) });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.body).toContain('<div class="alert" role="alert" id="form-error">Adresse e-mail ou mot de passe erroné.</div>');
    // An admin must have a second factor (REQUIRE_MFA_FOR_ROLES): its setup, in French.
    await t.deps.db.update(users).set({ role: 'admin' }).where(eq(users.id, user.id));
    const setup = await b.post('/login', { email: user.email, password: user.password, csrf: csrfOf(wrong.body) });
    expect(setup.statusCode).toBe(200);
    expect(setup.body).toContain('<h1>Configurer un second facteur</h1>');
    expect(setup.body).toContain('<h2>Une application d’authentification</h2>');
    expect(setup.body).toContain('<button type="submit">Activer et continuer</button>');
    expect(setup.body).toContain('<button type="button" class="secondary copy" data-copy="totp-secret" data-copied="Copié."');
    const wrongCode = await b.post('/login/enrol/totp', { enrolment: /name="enrolment" value="([^"]+)"/.exec(setup.body)![1]!, code: '000000', csrf: csrfOf(setup.body) });
    expect(wrongCode.statusCode).toBe(401);
    expect(wrongCode.body).toContain('<div class="alert" role="alert" id="confirm-error">Le code est erroné, déjà utilisé ou manquant.</div>');
  });

  it('refuse a form from elsewhere in French, and say so of the pages the emails link to', async () => {
    const b = new Browser(t, 'fr');
    const page = await b.get('/forgot-password');
    expect(page.body).toContain('<button type="submit">Envoyer le lien</button>');
    const refused = await b.post('/forgot-password', { email: 'a@example.com', csrf: csrfOf(page.body) }, 'https://elsewhere.example');
    expect(refused.statusCode).toBe(403);
    expect(refused.body).toContain('<h1>Ce formulaire a expiré</h1>');
    expect(refused.body).toContain(`L’adresse de ce site est <a href="${ORIGIN}/login">${ORIGIN}</a> (le <code>PUBLIC_URL</code> du serveur)`);
    const reset = await b.get(`/reset-password/${'x'.repeat(43)}`);
    expect(reset.statusCode).toBe(400);
    expect(reset.body).toContain('<html lang="fr">');
    expect(reset.body).toContain('Ce lien de réinitialisation n’est pas valide, a déjà servi ou a expiré.');
    const verify = await b.get(`/verify-email/${'x'.repeat(43)}`);
    expect(verify.body).toContain('<title>Confirmer votre adresse e-mail · Latchkey</title>');
    expect(verify.body).toContain('Ce lien n’est pas valide, a déjà servi ou a expiré.');
  });
});

describe('the emails in the language of the person they go to', () => {
  const { t, smtp } = useMailingApp();

  it('are French for an account made from a French browser, read from the SMTP server; its link opens a French page', async () => {
    const email = uniqueEmail('fr');
    const b = new Browser(t, FR);
    const page = await b.get('/signup');
    expect((await b.post('/signup', { name: 'Zoé', email, password: GOOD_PASSWORD, csrf: csrfOf(page.body) })).statusCode).toBe(303);
    const [row] = await t.deps.db.select({ locale: users.locale }).from(users).where(eq(users.email, email));
    expect(row?.locale).toBe('fr');
    const mail = await smtp.waitFor((m) => m.to.includes(email));
    expect(mail.subject).toBe('Confirmez votre adresse e-mail');
    expect(mail.text).toMatch(/^Bonjour,\n\nPour confirmer que cette adresse est la vôtre/);
    expect(mail.text).toMatch(/Ou, dans l’application, saisissez ce code : [0-9]{6}/);
    expect(mail.text).toContain('expirent dans 1 jour.');
    expect(mail.text.trimEnd().endsWith('\n\n— Latchkey')).toBe(true);
    expect(mail.html).toContain('<p>Bonjour,</p>');
    expect(mail.html).toContain('<p>— Latchkey</p>');
    expect(mail.raw).toMatch(/^From: Latchkey <latchkey@example\.com>$/m);
    const link = /(\/verify-email\/[A-Za-z0-9_-]+)/.exec(mail.text)![1]!;
    const confirm = await new Browser(t, 'fr').get(link);
    expect(confirm.body).toContain('<button type="submit">Confirmer mon adresse e-mail</button>');
  });

  it('stay in the owner’s language whoever asks: a reset asked from an English browser goes to a French account in French', async () => {
    const email = uniqueEmail('fr');
    const created = await t.inject({ method: 'POST', url: '/api/signup', headers: { 'accept-language': 'fr-FR' }, payload: { name: 'Zoé', email, password: GOOD_PASSWORD } });
    expect(created.statusCode).toBe(201);
    await t.deps.db.update(users).set({ emailVerifiedAt: new Date() }).where(eq(users.email, email));
    const asked = await t.inject({ method: 'POST', url: '/api/forgot-password', headers: { 'accept-language': 'en-US' }, payload: { email } });
    expect(asked.statusCode).toBe(200);
    const mail = await smtp.waitFor((m) => m.to.includes(email) && m.subject === 'Réinitialisez votre mot de passe');
    expect(mail.text).toMatch(/^Bonjour Zoé,/);
    expect(mail.text).toContain('Le lien fonctionne une fois et expire dans 1 heure.');
    // And an English account gets English, from a French browser.
    const english = await signUp(t);
    expect((await t.inject({ method: 'POST', url: '/api/forgot-password', headers: { 'accept-language': 'fr' }, payload: { email: english.email } })).statusCode).toBe(200);
    expect((await smtp.waitFor((m) => m.to.includes(english.email) && /reset/i.test(m.subject))).subject).toBe('Reset your password');
  });
});

describeUnless(ON_POSTGRES)('the brand', () => {
  const logo = 'https://cdn.example.com/brand/acme.svg';
  const { t, smtp } = useMailingApp({ BRAND_NAME: 'Acme <ID>', BRAND_LOGO_URL: logo, BRAND_COLOR: '#ffcc00' });

  it('names the pages, shows the logo under a CSP that allows its origin alone, and colours the stylesheet', async () => {
    const res = await new Browser(t).get('/login');
    expect(titleOf(res.body)).toBe('Sign in · Acme &lt;ID&gt;');
    expect(res.body).toContain(`<header><a href="/account"><img src="${logo}" alt="Acme &lt;ID&gt;"></a>`);
    const csp = String(res.headers['content-security-policy']);
    expect(csp.split('; ')).toContain("img-src 'self' https://cdn.example.com");
    expect(csp).not.toMatch(/\*|unsafe/);
    const path = /<link rel="stylesheet" href="([^"]+)">/.exec(res.body)![1]!;
    const sheet = await t.inject({ method: 'GET', url: path });
    expect(sheet.statusCode).toBe(200);
    expect(sheet.headers['content-type']).toContain('text/css');
    // Yellow reads on the dark background, black text on it; on white, a darker shade of it.
    expect(sheet.body).toMatch(/prefers-color-scheme:dark\)\{:root\{[^}]*--accent:#ffcc00;--accent-fg:#000000;/);
    expect(sheet.body).not.toContain('--accent:#1f5fbf');
    expect(t.logs.join('')).toContain('BRAND_COLOR #ffcc00 reads at');
    // The pages the emails link to wear it too.
    const reset = await new Browser(t).get(`/reset-password/${'x'.repeat(43)}`);
    expect(reset.body).toContain(`<link rel="stylesheet" href="${path}">`);
    expect(String(reset.headers['content-security-policy'])).toContain("img-src 'self' https://cdn.example.com;");
  });

  it('names the sender and signs every email', async () => {
    const user = await signUp(t);
    const mail = await smtp.waitFor((m) => m.to.includes(user.email));
    expect(mail.raw).toMatch(/^From: "Acme <ID>" <latchkey@example\.com>$/m);
    expect(mail.text.trimEnd().endsWith('\n\n— Acme <ID>')).toBe(true);
    expect(mail.html).toContain('<p>— Acme &lt;ID&gt;</p>');
  });
});

describeUnless(ON_POSTGRES)('a logo on this server', () => {
  const { t } = useMailingApp({ BRAND_LOGO_URL: '/brand/logo.svg' });

  it('needs no other origin in img-src, and leaves the stylesheet as Latchkey’s own', async () => {
    const res = await new Browser(t).get('/login');
    expect(res.body).toContain('<img src="/brand/logo.svg" alt="Latchkey">');
    expect(String(res.headers['content-security-policy']).split('; ')).toContain("img-src 'self'");
    const sheet = await t.inject({ method: 'GET', url: /<link rel="stylesheet" href="([^"]+)">/.exec(res.body)![1]! });
    expect(sheet.body).toContain('--accent:#1f5fbf;--accent-fg:#fff;');
  });
});
