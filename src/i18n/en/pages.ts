import type { ErrorCode } from '../../errors.js';

/**
 * The words of the hosted pages, in English: the reference every other language's catalogue is typed against
 * (../fr/pages.ts is a `PageMessages`: a key missing there, or a function taking other values, does not compile).
 * Values are plain text: a page puts each through its `html` template, which escapes it, interpolated values
 * (a name, an address) included. A sentence with a link in it is a function returning its parts, the link (made
 * by the page, from the page's own markup) in its place.
 */

/** A sentence in parts, markup slots (`T`, a link the page makes) among its escaped strings. */
export type Parts<T> = readonly (string | T)[];

/** The errors a page shows in its own words: English shows the error's own message, which may be more precise. */
export type PageErrorCode = Extract<
  ErrorCode,
  | 'invalid_request'
  | 'password_too_short'
  | 'password_too_long'
  | 'password_too_common'
  | 'password_breached'
  | 'passwords_do_not_match'
  | 'email_taken'
  | 'invalid_credentials'
  | 'account_disabled'
  | 'email_not_verified'
  | 'mfa_enrollment_required'
  | 'invalid_mfa_token'
  | 'invalid_mfa_code'
  | 'mfa_already_enabled'
  | 'mfa_not_enrolled'
  | 'invalid_passkey'
  | 'invalid_passkey_registration'
  | 'passkey_already_registered'
  | 'passkey_not_found'
  | 'invalid_reset_token'
  | 'invalid_verification_token'
  | 'session_revoked'
  | 'not_signed_in'
  | 'form_refused'
  | 'upstream_provider_not_found'
  | 'upstream_unavailable'
  | 'upstream_flow_invalid'
  | 'upstream_signin_failed'
  | 'upstream_account_exists'
  | 'upstream_email_required'
  | 'identity_linked_elsewhere'
  | 'identity_not_found'
  | 'last_sign_in_method'
>;

const own = (message: string) => message;
const errors: Record<PageErrorCode, (own: string) => string> = {
  invalid_request: own,
  password_too_short: own,
  password_too_long: own,
  password_too_common: own,
  password_breached: own,
  passwords_do_not_match: own,
  email_taken: own,
  invalid_credentials: own,
  account_disabled: own,
  email_not_verified: own,
  mfa_enrollment_required: own,
  invalid_mfa_token: own,
  invalid_mfa_code: own,
  mfa_already_enabled: own,
  mfa_not_enrolled: own,
  invalid_passkey: own,
  invalid_passkey_registration: own,
  passkey_already_registered: own,
  passkey_not_found: own,
  invalid_reset_token: own,
  invalid_verification_token: own,
  session_revoked: own,
  not_signed_in: own,
  form_refused: own,
  upstream_provider_not_found: own,
  upstream_unavailable: own,
  upstream_flow_invalid: own,
  upstream_signin_failed: own,
  upstream_account_exists: own,
  upstream_email_required: own,
  identity_linked_elsewhere: own,
  identity_not_found: own,
  last_sign_in_method: own,
};

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

export const pages = {
  errors,
  frame: { signOut: 'Sign out' },
  refused: {
    title: 'This form has expired',
    alert: "The form was not sent from this site's own page, or it was open too long.",
    elsewhere: <T>(link: T, setting: T): Parts<T> => ["This site's address is ", link, " (the server's ", setting, '): open its pages there.'],
    startAgain: 'Start again',
  },
  common: {
    name: 'Name',
    email: 'Email',
    password: 'Password',
    yourPassword: 'Your password',
    codeOrRecovery: 'A code from your app, or a recovery code',
    backToAccount: 'Back to your account',
    backToSignIn: 'Back to sign in',
    signIn: 'Sign in',
    unknownAddress: 'unknown address',
    continue: 'Continue',
  },
  checks: {
    enterName: 'Enter your name.',
    badName: 'Enter a name of at most 100 characters, without control characters.',
    enterEmail: 'Enter your email address.',
    badEmail: 'Enter an email address such as name@example.com.',
    choosePassword: 'Choose a password.',
    alreadyYourAddress: 'This is already the address of the account.',
  },
  login: {
    wrongPassword: 'Wrong email or password.',
    locked:
      'Too many sign-in attempts for this account: try again later, or reset your password. If this is you with the right password, we emailed you a sign-in code: enter it below with your password.',
    signinCode: 'Sign-in code from your email',
    forgot: 'Forgot your password?',
    create: 'Create an account',
    secondStepIntro: 'Your account has a second factor. Enter the six-digit code your authenticator app shows, or one of your recovery codes.',
    code: 'Code',
    codeHint: 'A recovery code works once: 12 letters and digits, dashes optional.',
    continue: 'Continue',
  },
  resend: {
    title: 'Verify your email address',
    noEmail: 'No email from us? Look in your spam folder, or:',
    button: 'Send the verification link again',
    sent: 'If this address has an account that is not verified yet, a new verification email has been sent to it. Open the link it holds, then sign in.',
  },
  enrolment: {
    title: 'Set up a second factor',
    intro: 'Your account must have a second factor before it signs in, so that a stolen password alone is not enough. Set one up now: an authenticator app, or a passkey.',
    app: 'An authenticator app',
    noApp: <T>(link: T): Parts<T> => ['No app is waiting to be set up: ', link, ' to start.'],
    signInAgainLower: 'sign in again',
    turnOn: 'Turn on and continue',
    orPasskey: 'Or a passkey',
    passkeyHint: 'Your fingerprint, face or device PIN, kept by this device or by your password manager.',
    passwordAgain: 'Your password, once more',
    notWaiting: 'No authenticator app is waiting to be confirmed: sign in again to set one up.',
    signInAgain: 'Sign in again',
    hasFactor: 'Your account has a second factor now: sign in with it.',
    done: 'Your second factor is set up, and you are signed in.',
  },
  signup: {
    title: 'Create an account',
    passwordHint: (min: number) => `At least ${min} characters; a long phrase is best.`,
    submit: 'Create account',
    haveAccount: 'Already have an account?',
    checkTitle: 'Check your email',
    checkEmail: <T>(email: string, link: T): Parts<T> => [`We sent a link to ${email}. Open it to verify your address, then `, link, '.'],
    signInLower: 'sign in',
    createdTitle: 'Account created',
    createdMfa: <T>(link: T): Parts<T> => ['Your account was created. It must have a second factor before it signs in: ', link, ' to be told how to set one up.'],
  },
  forgot: {
    title: 'Reset your password',
    intro: 'Enter the address of your account: we will send it a link to choose a new password.',
    submit: 'Send reset link',
    sent: 'If an account exists for this email, a password reset link has been sent to it.',
  },
  reset: {
    title: 'Choose a new password',
    invalidLink: 'This reset link is invalid, has been used, or has expired.',
    askAgain: 'Ask for a new one',
    newPassword: 'New password',
    repeat: 'Repeat the new password',
    submit: 'Set new password',
    doneTitle: 'Password changed',
    done: 'Your password has been changed, and every device signed in to your account was signed out.',
    signInWithNew: <T>(link: T): Parts<T> => [link, ' with your new password.'],
    invitedTitle: 'Choose your password',
    invitedIntro: 'An account was created for you. Choose its password: you will then sign in with your email address and it.',
    invitedSubmit: 'Set password',
    invitedDoneTitle: 'Password set',
    invitedDone: 'Your password is set, and your email address is verified.',
    invitedSignIn: <T>(link: T): Parts<T> => [link, ' with your email address and your new password.'],
  },
  emailLinks: {
    invalidLink: 'This link is invalid, has been used, or has expired.',
    askAgain: 'Ask for a new one from the app.',
    verifyTitle: 'Confirm your email address',
    verifyText: 'Press the button to confirm that this email address is yours.',
    verifyButton: 'Confirm my email address',
    changed: (email: string) => `Your email address has been changed to ${email}.`,
    confirmed: (email: string) => `Thank you: your email address is confirmed: ${email}.`,
    cancelTitle: 'This was not me',
    cancelText: "Press the button to stop the change of your account's email address and sign out every device signed in to your account.",
    cancelButton: 'Stop the change and sign out everywhere',
    reverted: 'The change was undone: your account has its previous address again. Every device was signed out.',
    cancelled: 'The change was cancelled. Every device was signed out.',
    resetNow: 'Now reset your password from the sign-in screen: someone else knows it.',
  },
  account: {
    title: 'Your account',
    verified: '(verified)',
    notVerified: '(not verified)',
    memberSince: 'Member since',
    save: 'Save',
    whereSignedIn: 'Where you are signed in',
    thisBrowser: '(this browser)',
    sessionLine: (address: string, since: string, used: string) => `${address} · signed in ${since} · last used ${used}`,
    signOutSession: (device: string, since: string) => `Sign out ${device}, signed in ${since}`,
    signOutOthers: 'Sign out everywhere else',
    saved: {
      name: 'Your name was saved.',
      mfa_off: 'The authenticator app is off: your password alone signs you in.',
      email: 'If the new address can be yours, a link to confirm it is on its way there. Your current address keeps working until then.',
      password: 'Your password was changed. Every other device was signed out.',
      passkey: 'Your passkey was added.',
      passkey_removed: 'The passkey was removed.',
      passkey_renamed: 'The passkey was renamed.',
      upstream_linked: 'The account at the provider is linked: you can sign in with it.',
      upstream_unlinked: 'The link to the provider was removed.',
    },
    ended: { one: 'That session was signed out.', others: 'Every other session was signed out.' },
    signOutTitle: 'Sign out',
    signOutQuestion: (brand: string) => `Sign out of ${brand} in this browser? Your other devices stay signed in.`,
  },
  mfa: {
    title: 'Two-step sign-in',
    offPasskeys: (passkeys: number, codes: number) =>
      `On: ${plural(passkeys, 'passkey', 'passkeys')} (below), ${plural(codes, 'recovery code', 'recovery codes')} left. You may add an authenticator app too.`,
    off: 'Off. With an authenticator app or a passkey, a stolen password is not enough to sign in.',
    setUp: 'Set up an authenticator app',
    on: (codes: number) => `On: an authenticator app. ${plural(codes, 'recovery code', 'recovery codes')} left.`,
    newCodes: 'New recovery codes',
    oldStop: 'The old ones stop working.',
    makeCodes: 'Make new recovery codes',
    turnOffTitle: 'Turn off the authenticator app',
    turnOff: 'Turn off',
    setupTitle: 'Set up your authenticator app',
    scan: 'Scan this code with your authenticator app, or type the secret into it.',
    qrLabel: "QR code of the authenticator app's setup",
    secret: 'Secret:',
    copySecret: 'Copy the secret',
    firstCode: 'The six-digit code your app shows',
    turnOn: 'Turn on',
    codesTitle: 'Save your recovery codes',
    codesNotice: 'Save these recovery codes somewhere safe: each signs you in once if you lose your app. They are shown only now.',
    codesFile: (brand: string) => `${brand} recovery codes\nEach works once, in place of a code from your app.`,
    download: 'Download them',
    copyCodes: 'Copy them',
    copied: 'Copied.',
    copyFailed: 'Could not copy: select the text and copy it yourself.',
  },
  credentials: {
    passkeyOnly: "Your account's second factor is a passkey: change your address or password, or delete the account, through the API for now.",
    emailTitle: 'Email address',
    newEmail: 'New email address',
    sendLink: 'Send a confirmation link',
    passwordTitle: 'Password',
    currentPassword: 'Current password',
    newPassword: 'New password',
    passwordHint: 'Every device signed in to your account is signed out, this one stays signed in.',
    changePassword: 'Change password',
    activity: 'Recent activity',
    /** An audit event's type (`signin_succeeded`) as the activity list names it. */
    event: (type: string) => type.replace(/_/g, ' '),
    download: 'Download my data',
    downloadWhat: (brand: string) => `(everything ${brand} holds about you, as JSON)`,
    deleteTitle: 'Delete your account',
    deleteWhat: 'Everything goes: your sessions, your factors, your activity. This cannot be undone.',
    typeEmail: (email: string) => `Type your email address, ${email}, to confirm`,
    typeExactly: 'Type your email address exactly to confirm the deletion.',
    deleteButton: 'Delete my account',
    deletedTitle: 'Account deleted',
    deleted: 'Your account and everything it held are gone. A goodbye email is on its way.',
  },
  passkeys: {
    title: 'Passkeys',
    signIn: 'Sign in with a passkey',
    secondStep: 'Use a passkey',
    notUsed: 'The passkey was not used: try again, or another way.',
    failed: 'Something went wrong.',
    refused: 'That passkey could not sign you in.',
    none: 'None yet. A passkey signs you in without a password, with your fingerprint, face or device PIN.',
    added: (created: string, used: string) => `added ${created} · last used ${used}`,
    synced: 'synced',
    never: 'never',
    remove: 'Remove',
    removeOne: (name: string) => `Remove ${name}`,
    rename: 'Rename',
    renameOne: (name: string) => `Rename ${name}`,
    newName: 'New name',
    nameOptional: 'Name (optional)',
    namePlaceholder: 'My laptop',
    add: 'Add a passkey',
  },
  oauth: {
    errorTitle: 'This sign-in cannot go on',
    errorHint: 'Go back to the application and try again; if this goes on, tell its owner.',
    consentTitle: 'Allow access',
    consentIntro: (app: string) => `${app} asks to:`,
    consentNote: 'You can withdraw this access at any time from your account page.',
    allow: 'Allow',
    deny: 'Deny',
    stepUpTitle: 'Confirm it is you',
    stepUpIntro: (app: string) => `${app} asks for your second factor.`,
    confirm: 'Confirm',
    logoutTitle: 'Sign out',
    logoutQuestion: (app: string) => `${app} asks you to sign out. Sign out of this site?`,
    signedOut: 'You are signed out.',
    appsTitle: 'Apps with access',
    appsNone: 'No application has access to your account.',
    appsAllowed: (scopes: string) => `Allowed: ${scopes}.`,
    remove: 'Remove access',
    removed: 'The application no longer has access.',
    scopes: {
      openid: 'Know who you are on this site (an identifier of your account)',
      profile: 'See your name',
      email: 'See your email address, and whether it is verified',
      offline_access: 'Stay signed in (keep access while you are away)',
    },
  },
  upstream: {
    continueWith: (provider: string) => `Continue with ${provider}`,
    failedTitle: 'Sign-in with the provider did not complete',
    title: 'Other ways to sign in',
    none: 'No account at another provider is linked.',
    linked: (created: string, used: string) => `linked ${created} · last used ${used}`,
    never: 'never',
    unlinkOne: (provider: string) => `Unlink ${provider}`,
    link: (provider: string) => `Link ${provider}`,
  },
};

export type PageMessages = typeof pages;
