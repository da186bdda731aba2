/**
 * The words of the emails, in English, the reference the other languages are typed against (../fr/mail.ts is a
 * `MailWords`). Each email is a subject and its paragraphs: plain text (escaped where an email is made HTML) or a
 * link on its own. The greeting comes first in every email; the mail channel signs each with
 * the brand's name (../../mail/mailer.ts).
 */

/** A paragraph of an email: text, or a link on a line of its own. */
export type Paragraph = string | { link: string };

/** A device as the emails and pages name it: its browser and its system, each when known (../../auth/sessions/devices.ts). */
export interface DeviceParts {
  browser?: string | undefined;
  system?: string | undefined;
}

const plural = (n: number, unit: string) => `${n} ${unit}${n === 1 ? '' : 's'}`;
const NOT_YOU = "If this wasn't you, someone is signed in to your account with your password: reset your password now, which signs every device out.";

export const mail = {
  hello: (name: string | undefined) => (name === undefined ? 'Hello,' : `Hello ${name},`),
  duration: { day: (n: number) => plural(n, 'day'), hour: (n: number) => plural(n, 'hour'), minute: (n: number) => plural(n, 'minute'), second: (n: number) => plural(n, 'second') },
  device: ({ browser, system }: DeviceParts) => (browser && system ? `${browser} on ${system}` : browser ?? (system ? `a browser on ${system}` : 'an unknown device')),
  passwordReset: {
    subject: 'Reset your password',
    body: (link: string, expires: string): Paragraph[] => [
      'Someone asked to reset the password of your account. To choose a new password, open this link:',
      { link },
      `The link works once and expires in ${expires}. If you did not ask for this, ignore this email: your password stays as it is.`,
    ],
  },
  invitation: {
    subject: 'Your new account: choose a password',
    body: (link: string, expires: string): Paragraph[] => [
      'An administrator created an account for you with this email address. To choose its password, open this link:',
      { link },
      `The link works once and expires in ${expires}. Then sign in with this address and your new password.`,
      'If you did not expect this, ignore this email: nobody can sign in to the account until a password is chosen through a link like this one.',
    ],
  },
  passwordChanged: {
    subject: 'Your password was changed',
    body: (): Paragraph[] => [
      'The password of your account was just changed, and every device signed in to it was signed out.',
      'If this was not you, reset your password at once and check your account.',
    ],
  },
  accountDeleted: {
    subject: 'Your account was deleted',
    body: (): Paragraph[] => [
      'Your account was deleted at your request, with everything it held: every device signed in to it was signed out.',
      'If this was not you, your password was known to someone else: nothing of the account can be recovered, but you can sign up again.',
    ],
  },
  verification: {
    subject: 'Confirm your email address',
    body: (link: string, code: string, expires: string): Paragraph[] => [
      'To confirm that this address is yours, open this link and press the button on the page:',
      { link },
      `Or, in the app, enter this code: ${code}`,
      `The link and the code work once and expire in ${expires}. If you did not create an account, ignore this email.`,
    ],
  },
  emailChangeConfirm: {
    subject: 'Confirm your new email address',
    body: (link: string, expires: string): Paragraph[] => [
      'Someone asked to use this address for their account. If it was you, open this link and press the button on the page:',
      { link },
      `The link works once and expires in ${expires}. If you did not ask for this, ignore this email: nothing changes.`,
    ],
  },
  emailChangeNotice: {
    subject: 'Your email address is being changed',
    body: (newEmail: string, link: string, lasts: string): Paragraph[] => [
      `Someone signed in to your account asked to change its email address to ${newEmail}.`,
      'If this was you, there is nothing to do. If it was not you, open this link and press the button: the change is undone (or cancelled, if not confirmed yet) and every device signed in to your account is signed out.',
      { link },
      `The link works for ${lasts}. Then reset your password.`,
    ],
  },
  emailTaken: {
    subject: 'Someone tried to use your email address',
    body: (): Paragraph[] => [
      'Someone signed in to another account asked to change its email address to this one, which already belongs to your account. Nothing was changed.',
      'If you know nothing of this, you can ignore this email; your account is as it was.',
    ],
  },
  signinCode: {
    subject: 'Your sign-in code',
    body: (code: string, expires: string): Paragraph[] => [
      'Sign-ins to your account are paused after failed attempts, and someone has just signed in to it with the right password from a network it had not signed in from.',
      `If this was you, finish signing in by sending this code with your email and password: ${code}`,
      `The code works once, from that same network, and expires in ${expires}.`,
      'If this was not you, someone knows your password: reset it now.',
    ],
  },
  newSignin: {
    subject: 'New sign-in to your account',
    body: (device: string, address: string | undefined, at: string): Paragraph[] => [
      `Your account was just signed in to from ${device}, at the address ${address ?? 'unknown'}, on ${at}. It had not signed in from this device and network in the last 90 days.`,
      'If this was you, there is nothing to do. Your sessions list every device signed in to your account, and can end any of them (GET /api/me/sessions, DELETE /api/me/sessions/{id}).',
      "If this wasn't you, reset your password now: a reset signs every device out.",
    ],
  },
  mfaEnabled: {
    subject: { totp: 'Two-step sign-in is on', passkey: 'A passkey was added' },
    body: (factor: 'totp' | 'passkey'): Paragraph[] => [
      factor === 'totp'
        ? 'An authenticator app was just set up for your account: from now on, signing in takes a code from it after your password.'
        : 'A passkey was just added to your account: it signs you in on its own, and serves as the second step after your password.',
      'Keep your recovery codes somewhere safe: each signs in once if you lose your second factors.',
      NOT_YOU,
    ],
  },
  factorRemoved: {
    subject: { last: 'Two-step sign-in is off', totp: 'An authenticator app was removed', passkey: 'A passkey was removed' },
    body: (factor: 'totp' | 'passkey', last: boolean): Paragraph[] => {
      const what = factor === 'totp' ? 'An authenticator app' : 'A passkey';
      return [
        last
          ? `${what} of your account was just removed, with its recovery codes: signing in takes your password alone again.`
          : `${what} of your account was just removed; your other second factors and your recovery codes still work.`,
        NOT_YOU,
      ];
    },
  },
  mfaReset: {
    subject: 'Two-step sign-in was reset',
    body: (): Paragraph[] => [
      'An administrator removed the second factors of your account (authenticator app, passkeys) and its recovery codes, as asked for when they are lost: signing in takes your password alone until you set up a new one.',
      'If you did not ask for this, tell your administrator, and reset your password now.',
    ],
  },
  recoveryCodeUsed: {
    subject: 'A recovery code was used',
    body: (left: number): Paragraph[] => [
      `One of your account's recovery codes was just used, to sign in or to confirm a change. ${left === 1 ? 'One code is' : `${left} codes are`} left.`,
      'If you lost your second factor, set up a new one and get new recovery codes once signed in.',
      NOT_YOU,
    ],
  },
  passkeyClone: {
    subject: 'A passkey of yours may have been copied',
    body: (): Paragraph[] => [
      'Someone just tried to sign in with one of your passkeys, and its signature counter had gone back: the mark of a copy of the passkey. The attempt was refused.',
      'If you did not restore or copy a security key, remove that passkey from your account and reset your password.',
    ],
  },
};

export type MailWords = typeof mail;
