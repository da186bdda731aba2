import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Deps } from '../../deps.js';
import { dashboardRoute } from './account/dashboard.js';
import { logoutRoute } from './account/logout.js';
import { refreshRoute } from './account/refresh.js';
import { signinRoute } from './account/signin.js';
import { signinMfaRoute } from './account/signin-mfa.js';
import { signinUpstreamRoute } from './account/signin-upstream.js';
import { signupRoute } from './account/signup.js';
import { verifyEmailRoutes } from './account/verify-email.js';
import { credentialRoutes } from './me/credentials.js';
import { profileRoutes } from './me/profile.js';
import { userChangeRoutes } from './admin/users/changes.js';
import { createUserRoute } from './admin/users/create.js';
import { revokeUserSessionRoute } from './admin/users/session-revoke.js';
import { searchUsersRoute } from './admin/users/search.js';
import { showUserRoute } from './admin/users/show.js';
import { signingKeyRoutes } from './admin/keys/keys.js';
import { addWebhookRoute } from './admin/webhooks/add.js';
import { deliveryRoutes } from './admin/webhooks/deliveries.js';
import { webhookEndpointRoutes } from './admin/webhooks/endpoints.js';
import { overviewRoute } from './admin/overview/overview.js';
import { serviceClientRoutes } from './admin/services/clients.js';
import { serviceSecretRoutes } from './admin/services/secrets.js';
import { oauthClientRoutes } from './admin/clients/clients.js';
import { oauthClientSecretRoutes } from './admin/clients/secrets.js';
import { searchAuditRoute } from './admin/audit/search.js';
import { meActivityRoute } from './me/activity.js';
import { meExportRoute } from './me/export.js';
import { meSessionRoutes } from './me/sessions.js';
import { meConsentRoutes } from './me/consents.js';
import { mfaRoutes } from './me/mfa.js';
import { passkeyRegistrationRoutes, passkeyRoutes } from './me/passkeys.js';
import { stepUpRoutes } from './me/step-up.js';
import { bannerRoutes } from './meta/banner.js';
import { documentRoutes } from './meta/documents.js';
import { healthRoutes } from './meta/health.js';
import { forgotPasswordRoute } from './password-reset/forgot-password.js';
import { resetPasswordRoute } from './password-reset/reset-password.js';
import { revocationFeedRoute } from './revocation-feed/stream.js';
import { discoveryRoutes } from './oauth/discovery.js';
import { oauthTokenRoutes } from './oauth/token.js';
import { userinfoRoutes } from './oauth/userinfo.js';

/** Every route of the API, by area, in the order they are registered (and documented). */
export const ROUTES: readonly ((deps: Deps) => FastifyPluginAsyncTypebox)[] = [
  bannerRoutes,
  healthRoutes,
  documentRoutes,
  signupRoute,
  signinRoute,
  signinMfaRoute,
  signinUpstreamRoute,
  refreshRoute,
  logoutRoute,
  dashboardRoute,
  meSessionRoutes,
  meActivityRoute,
  meExportRoute,
  meConsentRoutes,
  forgotPasswordRoute,
  resetPasswordRoute,
  verifyEmailRoutes,
  profileRoutes,
  credentialRoutes,
  mfaRoutes,
  passkeyRegistrationRoutes,
  passkeyRoutes,
  stepUpRoutes,
  revocationFeedRoute,
  searchUsersRoute,
  showUserRoute,
  userChangeRoutes,
  createUserRoute,
  revokeUserSessionRoute,
  webhookEndpointRoutes,
  addWebhookRoute,
  deliveryRoutes,
  overviewRoute,
  serviceClientRoutes,
  serviceSecretRoutes,
  oauthClientRoutes,
  oauthClientSecretRoutes,
  searchAuditRoute,
  signingKeyRoutes,
  discoveryRoutes,
  oauthTokenRoutes,
  userinfoRoutes,
];
