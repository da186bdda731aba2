import { describe, expect, it } from 'vitest';
import { signUp, useMailingApp, type SignedUp, type TestApp, type Tokens } from '../helpers/app.js';
import type { ReceivedMail, TestSmtpServer } from '../helpers/smtp.js';

// A sign-in from a device and network the account has not signed in from together within 90 days gets its owner
// an email: the device, the address and the time, and what to do if it was not them.

const SUBJECT = 'New sign-in to your account';
const FIREFOX_WINDOWS = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0';
const FIREFOX_WINDOWS_UPDATED = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:131.0) Gecko/20100101 Firefox/131.0';
const SAFARI_IPHONE =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1';

// Each address on a network of its own.
let lastNetwork = 0;
const newAddress = () => {
  lastNetwork += 1;
  return `10.${(lastNetwork >> 8) & 255}.${lastNetwork & 255}.7`;
};

const signin = async (t: TestApp, user: SignedUp, ip: string, userAgent: string): Promise<Tokens> => {
  const res = await t.inject({
    method: 'POST',
    url: '/api/signin',
    payload: { email: user.email, password: user.password },
    headers: { 'x-forwarded-for': ip, 'user-agent': userAgent },
  });
  expect(res.statusCode).toBe(200);
  return res.json();
};

const noticesTo = (smtp: TestSmtpServer, email: string) => smtp.messages.filter((m) => m.to.includes(email) && m.subject === SUBJECT);

/** Waits until `count` notices reached the address (or a moment passed), then a moment more, so that one too many would have come too. */
async function settledNotices(smtp: TestSmtpServer, email: string, count: number): Promise<ReceivedMail[]> {
  for (let i = 0; i < 100 && noticesTo(smtp, email).length < count; i++) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 400));
  return noticesTo(smtp, email);
}

describe('the new sign-in email', () => {
  const { t, smtp } = useMailingApp({ TRUST_PROXY: '127.0.0.1' });

  it('is not sent at an account\'s first sign-in, nor from the same device and network again, and is from a new network', async () => {
    const user = await signUp(t);
    const home = newAddress();
    await signin(t, user, home, FIREFOX_WINDOWS);
    await signin(t, user, home, FIREFOX_WINDOWS);
    // A browser update is not a new device.
    await signin(t, user, home, FIREFOX_WINDOWS_UPDATED);
    const travel = newAddress();
    const tokens = await signin(t, user, travel, FIREFOX_WINDOWS);

    const [mail, ...more] = await settledNotices(smtp, user.email, 1);
    expect(more).toEqual([]);
    expect(mail!.text).toContain('from Firefox on Windows');
    expect(mail!.text).toContain(`at the address ${travel}`);
    expect(mail!.text).not.toContain(home);
    expect(mail!.text).toMatch(/on \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC/);
    expect(mail!.text).toContain("If this wasn't you, reset your password now");
    expect(mail!.text).toContain('/api/me/sessions');
    for (const secret of [tokens.access_token, tokens.refresh_token, user.password]) {
      expect(mail!.raw).not.toContain(secret);
    }
  });

  it('is sent for a new device on a known network', async () => {
    const user = await signUp(t);
    const home = newAddress();
    await signin(t, user, home, FIREFOX_WINDOWS);
    await signin(t, user, home, SAFARI_IPHONE);
    const [mail, ...more] = await settledNotices(smtp, user.email, 1);
    expect(more).toEqual([]);
    expect(mail!.text).toContain('from Safari on iOS');
  });

  it('counts the IPv6 network, not the address: another address of a known /64 is known', async () => {
    const user = await signUp(t);
    await signin(t, user, '2001:db8:1:2::10', FIREFOX_WINDOWS);
    await signin(t, user, '2001:db8:1:2::99', FIREFOX_WINDOWS);
    const elsewhere = '2001:db8:1:3::10';
    await signin(t, user, elsewhere, FIREFOX_WINDOWS);
    const [mail, ...more] = await settledNotices(smtp, user.email, 1);
    expect(more).toEqual([]);
    expect(mail!.text).toContain(elsewhere);
  });

  it('is sent again for a device and network last seen more than 90 days ago', async () => {
    const user = await signUp(t);
    const home = newAddress();
    await signin(t, user, home, FIREFOX_WINDOWS);
    t.clock.advance(91 * 86_400);
    await signin(t, user, home, FIREFOX_WINDOWS);
    const [mail] = await settledNotices(smtp, user.email, 1);
    expect(mail!.text).toContain(home);
  });

  it('goes out once per account within 10 minutes, however many new places sign in', async () => {
    const user = await signUp(t);
    await signin(t, user, newAddress(), FIREFOX_WINDOWS);
    const first = newAddress();
    await signin(t, user, first, FIREFOX_WINDOWS);
    await settledNotices(smtp, user.email, 1);
    await signin(t, user, newAddress(), SAFARI_IPHONE);
    const mails = await settledNotices(smtp, user.email, 2);
    expect(mails).toHaveLength(1);
    expect(mails[0]!.text).toContain(first);
  });
});

describe('with NOTIFY_NEW_SIGN_IN=false', () => {
  const { t, smtp } = useMailingApp({ TRUST_PROXY: '127.0.0.1', NOTIFY_NEW_SIGN_IN: 'false' });

  it('no new sign-in email is sent, while other emails are', async () => {
    const user = await signUp(t);
    await signin(t, user, newAddress(), FIREFOX_WINDOWS);
    await signin(t, user, newAddress(), SAFARI_IPHONE);
    // Mail works: a reset email arrives, and by then a notice would have been queued too.
    expect((await t.inject({ method: 'POST', url: '/api/forgot-password', payload: { email: user.email } })).statusCode).toBe(200);
    await smtp.waitFor((m) => m.to.includes(user.email) && m.subject === 'Reset your password');
    expect(await settledNotices(smtp, user.email, 1)).toEqual([]);
  });
});
