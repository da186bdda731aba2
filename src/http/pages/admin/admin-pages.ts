import type { PageApp, PageKit } from '../page-kit.js';
import { adminKit } from './admin-kit.js';
import { auditPages } from './audit-pages.js';
import { oauthClientPages } from './clients-pages.js';
import { keyPages } from './keys-pages.js';
import { overviewPages } from './overview-pages.js';
import { servicePages } from './services-pages.js';
import { userPages } from './users-pages.js';
import { webhookPages } from './webhooks-pages.js';

/**
 * The admin console, `/admin`: an overview (./overview-pages.ts), users (./users-pages.ts), the audit log
 * (./audit-pages.ts), signing keys (./keys-pages.ts), service clients (./services-pages.ts), OAuth clients (./clients-pages.ts) and webhooks
 * (./webhooks-pages.ts), for admins signed in with a second factor (./admin-kit.ts). Its routes are pages, not API:
 * they are left out of the OpenAPI document (`hide`), whose /docs page stops rendering past about 140 operations;
 * what they do is the admin API's, which the document has.
 */
export function adminPages(app: PageApp, kit: PageKit): void {
  const admin = adminKit(kit);
  overviewPages(app, admin);
  userPages(app, admin);
  auditPages(app, admin);
  keyPages(app, admin);
  servicePages(app, admin);
  oauthClientPages(app, admin);
  webhookPages(app, admin);
}
