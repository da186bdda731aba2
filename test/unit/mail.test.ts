import { describe, expect, it } from 'vitest';
import { passwordChangedEmail, passwordResetEmail } from '../../src/auth/reset/emails.js';
import { signinCodeEmail } from '../../src/auth/sessions/emails.js';

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

  it('escapes the user\'s name in HTML and keeps it as typed in text', () => {
    for (const mail of [passwordResetEmail(to, 'https://x', 60), passwordChangedEmail(to), signinCodeEmail(to, 'ABCD-EFGH', 600)]) {
      expect(mail.html).toContain('Hello &lt;b&gt;Eve&lt;/b&gt; &amp; &quot;friends&quot;,');
      expect(mail.html).not.toContain('<b>Eve</b>');
      expect(mail.text).toContain('Hello <b>Eve</b> & "friends",');
    }
  });
});
