import { and, eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { auditEvents, passkeys } from '../../src/db/schema.js';
import { useMailingApp } from '../helpers/app.js';
import { csrfOf, signInBrowser } from '../helpers/admin-browser.js';
import { withPasskey } from '../helpers/passkeys.js';

// Renaming a passkey from the account page: the API's rules for a name, the account's own passkeys only, audited.

describe('renaming a passkey on the account page', () => {
  const { t } = useMailingApp();

  const nameOf = async (id: string) => (await t.deps.db.select({ name: passkeys.name }).from(passkeys).where(eq(passkeys.id, id)))[0]?.name;

  it('renames one of the account’s passkeys, says so, and audits it', async () => {
    const owner = await withPasskey(t);
    const browser = await signInBrowser(t, owner.id, owner.password);
    const account = await browser.get('/account');
    expect(account.body).toContain(`<label for="mv-${owner.passkeyId}-name">New name</label>`);
    const res = await browser.post('/account/passkeys/rename', { csrf: csrfOf(account.body), id: owner.passkeyId, name: '  Work laptop  ' });
    expect(res.statusCode, res.body).toBe(303);
    expect(res.headers.location).toBe('/account?saved=passkey_renamed');
    expect(await nameOf(owner.passkeyId)).toBe('Work laptop');
    expect((await browser.get('/account?saved=passkey_renamed')).body).toContain('The passkey was renamed.');
    const audited = await t.deps.db.select().from(auditEvents).where(and(eq(auditEvents.userId, owner.id), eq(auditEvents.type, 'passkey_renamed')));
    expect(audited).toHaveLength(1);
  });

  it('refuses a name the API refuses, another account’s passkey, a malformed id and a forged form, and changes nothing', async () => {
    const owner = await withPasskey(t);
    const other = await withPasskey(t);
    const browser = await signInBrowser(t, owner.id, owner.password);
    const csrf = csrfOf((await browser.get('/account')).body);
    for (const name of ['', '   ', 'a\u0000b', 'x'.repeat(101), 'evil\u202Eexe']) {
      const res = await browser.post('/account/passkeys/rename', { csrf, id: owner.passkeyId, name });
      expect(res.statusCode, JSON.stringify(name)).toBe(400);
      expect(res.body).toContain('role="alert"');
    }
    const html = await browser.post('/account/passkeys/rename', { csrf, id: owner.passkeyId, name: '<b>bold</b>' });
    expect(html.statusCode).toBe(303);
    expect((await browser.get('/account')).body).toContain('&lt;b&gt;bold&lt;/b&gt;');
    for (const id of [other.passkeyId, 'not-a-uuid', "'; DROP TABLE passkeys; --", '']) {
      const res = await browser.post('/account/passkeys/rename', { csrf, id, name: 'Mine now' });
      expect(res.statusCode, id).toBe(404);
    }
    expect(await nameOf(other.passkeyId)).toBe('Laptop');
    const forged = await browser.post('/account/passkeys/rename', { csrf: 'x', id: owner.passkeyId, name: 'Forged' });
    expect(forged.statusCode).toBe(403);
    const elsewhere = await browser.post('/account/passkeys/rename', { csrf, id: owner.passkeyId, name: 'Forged' }, { origin: 'https://evil.example' });
    expect(elsewhere.statusCode).toBe(403);
    expect(await nameOf(owner.passkeyId)).toBe('<b>bold</b>');
    // The refusals answered cleanly: no handler failed after its answer went out.
    expect(t.logs.filter((line) => /"level":(50|60)/.test(line))).toEqual([]);
  });

  it('answers a removal of a malformed id as one of a passkey the account does not have', async () => {
    const owner = await withPasskey(t);
    const browser = await signInBrowser(t, owner.id, owner.password);
    const csrf = csrfOf((await browser.get('/account')).body);
    for (const id of ['not-a-uuid', '']) {
      const res = await browser.post('/account/passkeys/remove', { csrf, id, password: owner.password, code: owner.recoveryCodes[0]! });
      expect([401, 404], `${id}: ${res.statusCode} ${res.body.slice(0, 200)}`).toContain(res.statusCode);
    }
    expect(await nameOf(owner.passkeyId)).toBe('Laptop');
  });

  it('is in French for a French browser', async () => {
    const owner = await withPasskey(t);
    const browser = await signInBrowser(t, owner.id, owner.password);
    const account = await t.inject({ method: 'GET', url: '/account', headers: { cookie: browser.cookie, 'accept-language': 'fr-FR,fr;q=0.9' } });
    expect(account.body).toContain('Nouveau nom');
    expect(account.body).toContain('Renommer Laptop');
  });
});
