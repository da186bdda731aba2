import type { MailWords, Paragraph } from '../en/mail.js';

// The emails in French: typed as the English catalogue, so a missing key does not compile.

const plural = (n: number, one: string, many: string) => `${n} ${n <= 1 ? one : many}`;
const NOT_YOU =
  'Si ce n’était pas vous, quelqu’un est connecté à votre compte avec votre mot de passe : réinitialisez-le maintenant, ce qui déconnecte tous les appareils.';

export const mail: MailWords = {
  hello: (name) => (name === undefined ? 'Bonjour,' : `Bonjour ${name},`),
  duration: {
    day: (n) => plural(n, 'jour', 'jours'),
    hour: (n) => plural(n, 'heure', 'heures'),
    minute: (n) => plural(n, 'minute', 'minutes'),
    second: (n) => plural(n, 'seconde', 'secondes'),
  },
  device: ({ browser, system }) => (browser && system ? `${browser} sous ${system}` : browser ?? (system ? `un navigateur sous ${system}` : 'un appareil inconnu')),
  passwordReset: {
    subject: 'Réinitialisez votre mot de passe',
    body: (link, expires): Paragraph[] => [
      'Quelqu’un a demandé à réinitialiser le mot de passe de votre compte. Pour choisir un nouveau mot de passe, ouvrez ce lien :',
      { link },
      `Le lien fonctionne une fois et expire dans ${expires}. Si vous n’avez rien demandé, ignorez cet e-mail : votre mot de passe reste inchangé.`,
    ],
  },
  invitation: {
    subject: 'Votre nouveau compte : choisissez un mot de passe',
    body: (link, expires) => [
      'Un administrateur a créé un compte pour vous avec cette adresse e-mail. Pour choisir son mot de passe, ouvrez ce lien :',
      { link },
      `Le lien fonctionne une fois et expire dans ${expires}. Connectez-vous ensuite avec cette adresse et votre nouveau mot de passe.`,
      'Si vous ne vous attendiez pas à cet e-mail, ignorez-le : personne ne peut se connecter au compte tant qu’un mot de passe n’a pas été choisi par un lien comme celui-ci.',
    ],
  },
  passwordChanged: {
    subject: 'Votre mot de passe a été modifié',
    body: () => [
      'Le mot de passe de votre compte vient d’être modifié, et tous les appareils connectés à celui-ci ont été déconnectés.',
      'Si ce n’était pas vous, réinitialisez votre mot de passe immédiatement et vérifiez votre compte.',
    ],
  },
  accountDeleted: {
    subject: 'Votre compte a été supprimé',
    body: () => [
      'Votre compte a été supprimé à votre demande, avec tout ce qu’il contenait : tous les appareils qui y étaient connectés ont été déconnectés.',
      'Si ce n’était pas vous, quelqu’un d’autre connaissait votre mot de passe : rien du compte ne peut être récupéré, mais vous pouvez vous inscrire à nouveau.',
    ],
  },
  verification: {
    subject: 'Confirmez votre adresse e-mail',
    body: (link, code, expires) => [
      'Pour confirmer que cette adresse est la vôtre, ouvrez ce lien et appuyez sur le bouton de la page :',
      { link },
      `Ou, dans l’application, saisissez ce code : ${code}`,
      `Le lien et le code fonctionnent une fois et expirent dans ${expires}. Si vous n’avez pas créé de compte, ignorez cet e-mail.`,
    ],
  },
  emailChangeConfirm: {
    subject: 'Confirmez votre nouvelle adresse e-mail',
    body: (link, expires) => [
      'Quelqu’un a demandé à utiliser cette adresse pour son compte. Si c’était vous, ouvrez ce lien et appuyez sur le bouton de la page :',
      { link },
      `Le lien fonctionne une fois et expire dans ${expires}. Si vous n’avez rien demandé, ignorez cet e-mail : rien ne change.`,
    ],
  },
  emailChangeNotice: {
    subject: 'L’adresse e-mail de votre compte va changer',
    body: (newEmail, link, lasts) => [
      `Quelqu’un connecté à votre compte a demandé à remplacer son adresse e-mail par ${newEmail}.`,
      'Si c’était vous, il n’y a rien à faire. Sinon, ouvrez ce lien et appuyez sur le bouton : le changement est annulé (ou abandonné s’il n’est pas encore confirmé) et tous les appareils connectés à votre compte sont déconnectés.',
      { link },
      `Le lien fonctionne pendant ${lasts}. Réinitialisez ensuite votre mot de passe.`,
    ],
  },
  emailTaken: {
    subject: 'Quelqu’un a essayé d’utiliser votre adresse e-mail',
    body: () => [
      'Quelqu’un connecté à un autre compte a demandé à utiliser cette adresse e-mail, qui appartient déjà à votre compte. Rien n’a été modifié.',
      'Si vous n’êtes au courant de rien, vous pouvez ignorer cet e-mail ; votre compte est inchangé.',
    ],
  },
  signinCode: {
    subject: 'Votre code de connexion',
    body: (code, expires) => [
      'Les connexions à votre compte sont suspendues après des tentatives échouées, et quelqu’un vient de s’y connecter avec le bon mot de passe depuis un réseau inhabituel.',
      `Si c’était vous, terminez la connexion en envoyant ce code avec votre adresse e-mail et votre mot de passe : ${code}`,
      `Le code fonctionne une fois, depuis ce même réseau, et expire dans ${expires}.`,
      'Si ce n’était pas vous, quelqu’un connaît votre mot de passe : réinitialisez-le maintenant.',
    ],
  },
  newSignin: {
    subject: 'Nouvelle connexion à votre compte',
    body: (device, address, at) => [
      `Quelqu’un vient de se connecter à votre compte depuis ${device}, à l’adresse ${address ?? 'inconnue'}, le ${at}. Aucune connexion n’était venue de cet appareil et de ce réseau ces 90 derniers jours.`,
      'Si c’était vous, il n’y a rien à faire. Vos sessions listent tous les appareils connectés à votre compte et peuvent mettre fin à chacune (GET /api/me/sessions, DELETE /api/me/sessions/{id}).',
      'Si ce n’était pas vous, réinitialisez votre mot de passe maintenant : une réinitialisation déconnecte tous les appareils.',
    ],
  },
  mfaEnabled: {
    subject: { totp: 'La connexion en deux étapes est activée', passkey: 'Une clé d’accès a été ajoutée' },
    body: (factor) => [
      factor === 'totp'
        ? 'Une application d’authentification vient d’être configurée pour votre compte : désormais, la connexion demande un code de celle-ci après votre mot de passe.'
        : 'Une clé d’accès vient d’être ajoutée à votre compte : elle vous connecte seule, et sert de seconde étape après votre mot de passe.',
      'Gardez vos codes de récupération en lieu sûr : chacun permet une connexion si vous perdez vos seconds facteurs.',
      NOT_YOU,
    ],
  },
  factorRemoved: {
    subject: { last: 'La connexion en deux étapes est désactivée', totp: 'Une application d’authentification a été retirée', passkey: 'Une clé d’accès a été retirée' },
    body: (factor, last) => {
      const what = factor === 'totp' ? 'Une application d’authentification' : 'Une clé d’accès';
      return [
        last
          ? `${what} de votre compte vient d’être retirée, avec ses codes de récupération : votre mot de passe seul suffit de nouveau pour vous connecter.`
          : `${what} de votre compte vient d’être retirée ; vos autres seconds facteurs et vos codes de récupération fonctionnent toujours.`,
        NOT_YOU,
      ];
    },
  },
  mfaReset: {
    subject: 'La connexion en deux étapes a été réinitialisée',
    body: () => [
      'Un administrateur a retiré les seconds facteurs de votre compte (application d’authentification, clés d’accès) et ses codes de récupération, comme on le demande quand on les a perdus : votre mot de passe seul vous connecte jusqu’à ce que vous en configuriez un nouveau.',
      'Si vous n’avez rien demandé, prévenez votre administrateur et réinitialisez votre mot de passe maintenant.',
    ],
  },
  recoveryCodeUsed: {
    subject: 'Un code de récupération a été utilisé',
    body: (left) => [
      `Un des codes de récupération de votre compte vient d’être utilisé, pour vous connecter ou confirmer une modification. ${left <= 1 ? `Il reste ${left} code.` : `Il reste ${left} codes.`}`,
      'Si vous avez perdu votre second facteur, configurez-en un nouveau et obtenez de nouveaux codes de récupération une fois connecté.',
      NOT_YOU,
    ],
  },
  passkeyClone: {
    subject: 'Une de vos clés d’accès a peut-être été copiée',
    body: () => [
      'Quelqu’un vient d’essayer de se connecter avec une de vos clés d’accès, dont le compteur de signatures avait reculé : le signe d’une copie de la clé. La tentative a été refusée.',
      'Si vous n’avez ni restauré ni copié de clé de sécurité, retirez cette clé d’accès de votre compte et réinitialisez votre mot de passe.',
    ],
  },
};
