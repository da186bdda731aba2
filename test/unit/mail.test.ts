import { describe, expect, it } from 'vitest';
import { passwordChangedEmail, passwordResetEmail } from '../../src/auth/reset/emails.js';
import { newSigninEmail, signinCodeEmail } from '../../src/auth/sessions/emails.js';

describe('email templates', () => {
  // A verified address: only then is the name printed.
  const to = { name: '<b>Eve</b> & "friends"', email: 'eve@example.com', emailVerifiedAt: new Date(0) };

  it('puts the reset link in both parts and says how long it lasts', () => {
    const mail = passwordResetEmail(to, 'https://auth.example.com/reset-password/abc_DEF-123', 3600);
    expect(mail.to).toBe('eve@example.com');
    expect(mail.text).toContain('\n\nhttps://auth.example.com/reset-password/abc_DEF-123\n\n');
    expect(mail.html).toContain('<a href="https://auth.example.com/reset-password/abc_DEF-123">');
    expect(mail.text).toContain('expires in 1 hour');
    expect(passwordResetEmail(to, 'https://x', 1800).text).toContain('expires in 30 minutes');
  });

  it('puts the sign-in code in both parts, says how long it lasts, and what to do if it was not the reader', () => {
    const mail = signinCodeEmail({ ...to, emailVerifiedAt: null }, '7K3M-QX9P', 600);
    for (const part of [mail.text, mail.html]) expect(part).toContain('7K3M-QX9P');
    expect(mail.text).toContain('expires in 10 minutes');
    expect(mail.text).toContain('someone knows your password: reset it now');
    // An address never verified is not greeted by the name its signer-up chose.
    expect(mail.text).not.toContain('Eve');
    expect(mail.text.startsWith('Hello,')).toBe(true);
  });

  it('tells of a new sign-in: the device, the address and the time in UTC, and what to do if it was not the reader', () => {
    const mail = newSigninEmail({ ...to, emailVerifiedAt: null }, { device: { browser: 'Firefox', system: 'Windows' }, ipAddress: '203.0.113.7', at: new Date('2025-03-14T09:26:53.123Z') });
    expect(mail.subject).toBe('New sign-in to your account');
    for (const part of [mail.text, mail.html]) {
      expect(part).toContain('from Firefox on Windows, at the address 203.0.113.7, on 2025-03-14 09:26 UTC');
      expect(part).toContain('GET /api/me/sessions');
    }
    expect(mail.text).toContain("If this wasn't you, reset your password now");
    expect(mail.text.startsWith('Hello,')).toBe(true);
    expect(newSigninEmail(to, { device: {}, ipAddress: undefined, at: new Date(0) }).text).toContain('from an unknown device, at the address unknown');
  });

  it('escapes the user\'s name in HTML and keeps it as typed in text', () => {
    const signin = { device: { browser: 'Chrome' }, ipAddress: '192.0.2.1', at: new Date(0) };
    for (const mail of [passwordResetEmail(to, 'https://x', 60), passwordChangedEmail(to), signinCodeEmail(to, 'ABCD-EFGH', 600), newSigninEmail(to, signin)]) {
      expect(mail.html).toContain('Hello &lt;b&gt;Eve&lt;/b&gt; &amp; &quot;friends&quot;,');
      expect(mail.html).not.toContain('<b>Eve</b>');
      expect(mail.text).toContain('Hello <b>Eve</b> & "friends",');
    }
  });
});
