import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import type { BrowserSession } from '../../../auth/browser-sessions/browser-sessions.js';
import { resetMfaByOperator } from '../../../auth/mfa/operator.js';
import { sendResetByOperator } from '../../../auth/reset/operator.js';
import { deleteUser, disableUser, enableUser, revokeUserSession, revokeUserSessions } from '../../../auth/users/user-admin.js';
import { normalizeEmail } from '../../../auth/users/users.js';
import { sendVerificationByOperator, verifyEmailByOperator } from '../../../auth/verification/operator.js';
import { isUuid } from '../../../contracts/ids.js';
import type { Deps } from '../../../deps.js';
import { AppError } from '../../../errors.js';
import { pageResponse, redirectResponse } from '../frame.js';
import { ANSWERED, FORM_TYPES, FormField, formResponses, type Answered, type PageApp } from '../page-kit.js';
import type { AdminKit } from './admin-kit.js';
import { isUnknownUser, sendNoUser, sendUserPage, UserIdParams, userViewOf } from './user-page.js';

/**
 * What an admin does to a user from their page in the console: each a form post to /admin/users/<id>/<action>,
 * done by the same domain function as the admin API (src/http/routes/admin/users/) and the command line, with the
 * admin as the audit's actor, then back to the user's page with a word for what happened (`?done=`).
 */

const tags = ['pages'];

interface Action {
  path: string;
  summary: string;
  /** Why an admin may not do this to their own account, if they may not. */
  notOwn?: string;
  /** Does it; the word the user's page shows a notice for. */
  run(deps: Deps, id: string, actor: string, sessionId: string): Promise<string>;
}

const ACTIONS: Action[] = [
  {
    path: 'disable',
    summary: 'Disable the user (HTML form): no sign-in, refresh or reset; every session ends',
    notOwn: 'You cannot disable your own account from the console: you would be signed out and shut out at once.',
    run: async (deps, id, actor) => ((await disableUser(deps, id, actor)).changed ? 'disabled' : 'already_disabled'),
  },
  {
    path: 'enable',
    summary: 'Enable a disabled user (HTML form)',
    run: async (deps, id, actor) => ((await enableUser(deps, id, actor)).changed ? 'enabled' : 'already_enabled'),
  },
  {
    path: 'send-reset',
    summary: 'Email the user a password reset link (HTML form)',
    run: async (deps, id, actor) => ((await sendResetByOperator(deps, id, actor)).sent ? 'reset_sent' : 'reset_not_sent'),
  },
  {
    path: 'send-verification',
    summary: 'Email the user a verification link and code (HTML form)',
    run: async (deps, id, actor) => ((await sendVerificationByOperator(deps, id, actor)).sent ? 'verification_sent' : 'verification_not_sent'),
  },
  {
    path: 'verify-email',
    summary: 'Mark the user’s address verified (HTML form)',
    run: async (deps, id, actor) => ((await verifyEmailByOperator(deps, id, actor)).changed ? 'verified' : 'already_verified'),
  },
  {
    path: 'mfa-reset',
    summary: 'Remove the user’s second factors and recovery codes (HTML form)',
    notOwn: 'You cannot reset your own second factors from the console, which needs one: change them on your account page.',
    run: async (deps, id, actor) => ((await resetMfaByOperator(deps, id, actor)).removed ? 'factors_reset' : 'no_factors'),
  },
  {
    path: 'sessions/revoke-all',
    summary: 'Revoke every session of the user (HTML form)',
    run: async (deps, id, actor) => (await revokeUserSessions(deps, id, actor), 'sessions_revoked'),
  },
  {
    path: 'sessions/revoke',
    summary: 'Revoke one session of the user (HTML form)',
    run: async (deps, id, actor, sessionId) => {
      try {
        await revokeUserSession(deps, id, sessionId, actor);
        return 'session_revoked';
      } catch (err) {
        // Ended meanwhile (another tab, its own logout), or never this user's: nothing of it is live here.
        if (err instanceof AppError && err.code === 'session_not_found') return 'session_gone';
        throw err;
      }
    },
  },
];

type ActionBody = { csrf?: string | undefined; session_id?: string | undefined; confirm_email?: string | undefined };
type ActionRequest = FastifyRequest<{ Params: { id: string }; Body: ActionBody }>;

/** The admin, for a form post about a valid user id; or the answer given instead (signed out, refused, 400). */
async function adminFor(admin: AdminKit, request: ActionRequest, reply: FastifyReply): Promise<BrowserSession | Answered> {
  const session = await admin.adminForm(request, reply, request.body.csrf);
  if (!('user' in session)) return session;
  if (isUuid(request.params.id)) return session;
  sendNoUser(admin, reply, session, true);
  return ANSWERED;
}

/** The user's page again, with a refusal (409) or a problem of the deletion's confirmation (422); 404 when the user is gone. */
async function userPageAgain(admin: AdminKit, reply: FastifyReply, session: BrowserSession, id: string, status: number, more: { alert?: string; deleteProblem?: string }) {
  try {
    return sendUserPage(admin, reply, status, session, await userViewOf(admin, session, id, more));
  } catch (err) {
    if (isUnknownUser(err)) return sendNoUser(admin, reply, session, false);
    throw err;
  }
}

const actionSchema = (summary: string, body: ReturnType<typeof Type.Object>, done: string) => ({
  tags, hide: true,
  summary,
  params: UserIdParams,
  consumes: FORM_TYPES,
  produces: ['text/html'],
  body,
  response: {
    ...formResponses,
    303: redirectResponse(`${done}; or not signed in: to /login`),
    400: pageResponse('not a user’s id (a page), or the form is malformed (an error body)'),
    404: pageResponse('no user has this id'),
    409: pageResponse('the user’s page again: not on the admin’s own account'),
    422: pageResponse('the user’s page again: the confirmation was not the user’s address'),
  },
});

export function userActionPages(app: PageApp, admin: AdminKit): void {
  const body = Type.Object({ csrf: FormField(128), session_id: FormField(64) });
  for (const action of ACTIONS) {
    app.post<{ Params: { id: string }; Body: ActionBody }>(
      `/admin/users/:id/${action.path}`,
      { config: { html: true }, schema: actionSchema(action.summary, body, 'done: back to the user’s page, with a notice') },
      async (request, reply) => {
        const session = await adminFor(admin, request, reply);
        if (!('user' in session)) return reply;
        const id = request.params.id.toLowerCase();
        if (action.notOwn && id === session.user.id) return userPageAgain(admin, reply, session, id, 409, { alert: action.notOwn });
        try {
          const word = await action.run(admin.kit.deps, id, admin.actorOf(session), request.body.session_id ?? '');
          return admin.kit.redirect(reply, `/admin/users/${id}?done=${word}`);
        } catch (err) {
          if (isUnknownUser(err)) return sendNoUser(admin, reply, session, false);
          throw err;
        }
      },
    );
  }
  deletePage(app, admin);
}

function deletePage(app: PageApp, admin: AdminKit) {
  const body = Type.Object({ csrf: FormField(128), confirm_email: FormField(1024) });
  app.post<{ Params: { id: string }; Body: ActionBody }>(
    '/admin/users/:id/delete',
    { config: { html: true }, schema: actionSchema('Delete the user, their address typed to confirm (HTML form)', body, 'deleted: to the users, with a notice') },
    async (request, reply) => {
      const session = await adminFor(admin, request, reply);
      if (!('user' in session)) return reply;
      const id = request.params.id.toLowerCase();
      if (id === session.user.id) {
        return userPageAgain(admin, reply, session, id, 409, { alert: 'You cannot delete your own account from the console: delete it from your account page.' });
      }
      try {
        const view = await userViewOf(admin, session, id);
        if (normalizeEmail(request.body.confirm_email ?? '') !== view.user.email) {
          return sendUserPage(admin, reply, 422, session, { ...view, deleteProblem: `Type ${view.user.email} exactly to delete this user.` });
        }
        await deleteUser(admin.kit.deps, id, admin.actorOf(session));
        return admin.kit.redirect(reply, '/admin/users?done=deleted');
      } catch (err) {
        if (isUnknownUser(err)) return sendNoUser(admin, reply, session, false);
        throw err;
      }
    },
  );
}
