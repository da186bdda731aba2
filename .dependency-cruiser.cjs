// The floors of src/, top to bottom; an import may point down or sideways within its floor, never up,
// and never in a circle (type-only imports included). Run by `npm run lint`; docs/architecture.md explains.
// The command line is an entry point of its own: it opens the dependencies and can start the server.
const WIRING = '^src/((main|server|app|deps|jobs)\\.ts$|cli/)';
const EDGES = '^src/(http|control|import)/';
const CHANNELS = '^src/(webhooks|mail|metrics)/';
const DOMAIN = '^src/auth/';
const CORE = '^src/core/';
const DB = '^src/db/';

const forbid = (name, comment, from, to) => ({ name, comment, severity: 'error', from: { path: from }, to });

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'An import circle, type-only imports included: a module must be understandable from what it imports.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    forbid('edges-below-wiring', 'The HTTP, control and import edges never import the wiring, except the Deps type it hands them.',
      EDGES, { path: WIRING, dependencyTypesNot: ['type-only'] }),
    forbid('edges-use-deps-type-only', 'Only the composition root\'s Deps interface is visible to an edge.',
      EDGES, { path: '^src/(main|server|app|jobs)\\.ts$' }),
    forbid('channels-below-edges', 'Webhook delivery, the mail channel and metrics sit above the domain and below the edges.',
      CHANNELS, { path: [WIRING, EDGES] }),
    forbid('channels-never-reach-into-domain', 'A channel gets what it needs from the domain through src/jobs.ts (injected), never by import.',
      CHANNELS, { path: DOMAIN }),
    forbid('domain-imports-down-only', 'Domain code knows nothing of HTTP, the command line, delivery channels or the composition root; it declares the narrow dependencies it uses.',
      DOMAIN, { path: [WIRING, EDGES, CHANNELS] }),
    forbid('core-below-domain', 'The shared floor (sealing, token hashing, audit, outboxes, time) serves every concept and knows none.',
      CORE, { path: [WIRING, EDGES, CHANNELS, DOMAIN] }),
    forbid('db-is-the-floor', 'The database layer imports nothing above it.',
      DB, { path: [WIRING, EDGES, CHANNELS, DOMAIN, CORE] }),
    forbid('base-imports-nothing-above', 'Errors, configuration, logging, durations, the shared contracts (src/contracts: the shapes the API, the command line and the domain share) and the words of the pages and emails (src/i18n) are below everything.',
      '^src/(errors|config|duration|logging|paths|secret-key|thread-priority|start-failure|contracts|i18n)(\\.ts$|/)', { path: [WIRING, EDGES, CHANNELS, DOMAIN, CORE, DB] }),
    {
      name: 'only-the-db-layer-speaks-sql',
      comment: 'SQL lives in src/db/queries/ (a module per table or concept); the rest composes those queries and never imports Drizzle or the schema.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/db/' },
      to: { path: ['(^|/)node_modules/drizzle-orm/', '^src/db/schema\\.ts$'] },
    },
    {
      name: 'not-to-tests',
      comment: 'Shipped code never imports test code.',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(test|bench|postman)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)dist/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
