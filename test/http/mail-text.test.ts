import { eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { checkImportRow } from '../../src/auth/import/import-rows.js';
import { users } from '../../src/db/schema.js';
import { GOOD_PASSWORD, signUp, uniqueEmail, useMailingApp } from '../helpers/app.js';

const { t, smtp } = useMailingApp();

const PHISH = 'Support: your account closes today unless you confirm at https://evil.example/keep';

describe('mail carries no text an attacker chose', () => {
  it('greets an address that was never verified by no name: a signer-up cannot write into a stranger\'s mailbox', async () => {
    // The attacker signs up with the victim's address and a name that reads as a message.
    const user = await signUp(t, { name: PHISH });
    expect((await t.inject({ method: 'POST', url: '/api/forgot-password', payload: { email: user.email } })).statusCode).toBe(200);
    const mail = await smtp.waitFor((m) => m.to.includes(user.email) && m.subject === 'Reset your password');
    expect(mail.text).not.toContain('evil.example');
    expect(mail.html ?? '').not.toContain('evil.example');
    expect(mail.text).toMatch(/^Hello,/);
  });

  it('greets a verified address by its name', async () => {
    const user = await signUp(t, { name: 'Ada Lovelace' });
    await t.deps.db.update(users).set({ emailVerifiedAt: new Date() }).where(eq(users.id, user.id));
    expect((await t.inject({ method: 'POST', url: '/api/forgot-password', payload: { email: user.email } })).statusCode).toBe(200);
    const mail = await smtp.waitFor((m) => m.to.includes(user.email) && m.subject === 'Reset your password');
    expect(mail.text).toMatch(/^Hello Ada Lovelace,/);
  });

  it('refuses names with C1 controls or bidi overrides at sign-up', async () => {
    for (const name of ['Bob\u0085Admin', 'Bob\u009b31m', 'Bob\u202eevil', 'Bob\u202aX', 'Bob\u2066X', 'Bob\u2069']) {
      const res = await t.inject({ method: 'POST', url: '/api/signup', payload: { name, email: uniqueEmail(), password: GOOD_PASSWORD } });
      expect(res.statusCode, JSON.stringify(name)).toBe(400);
      expect(res.json().error).toBe('invalid_request');
    }
  });
});

describe('names arriving by import', () => {
  it('refuse C1 controls and bidi overrides, as sign-up does', () => {
    for (const name of ['Bob\u0085Admin', 'Bob\u202eevil', 'Bob\u2067X']) {
      const check = checkImportRow({ row: 2, id: '1', name, email: uniqueEmail(), password_hash: 'x' }, new Date());
      expect(check.ok, JSON.stringify(name)).toBe(false);
      expect(check.ok ? undefined : check.rejection.reason).toBe('invalid_name');
    }
  });
});
