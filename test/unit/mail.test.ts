import { describe, expect, it } from 'vitest';
import { passwordChangedEmail, passwordResetEmail } from '../../src/auth/reset/emails.js';

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

  it('escapes the user\'s name in HTML and keeps it as typed in text', () => {
    for (const mail of [passwordResetEmail(to, 'https://x', 60), passwordChangedEmail(to)]) {
      expect(mail.html).toContain('Hello &lt;b&gt;Eve&lt;/b&gt; &amp; &quot;friends&quot;,');
      expect(mail.html).not.toContain('<b>Eve</b>');
      expect(mail.text).toContain('Hello <b>Eve</b> & "friends",');
    }
  });
});
