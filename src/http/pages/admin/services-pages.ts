import type { PageApp } from '../page-kit.js';
import type { AdminKit } from './admin-kit.js';

/** The console's services section: not built yet (its link in the console's navigation leads nowhere until it is). */
export function servicePages(_app: PageApp, _admin: AdminKit): void {}
