// The configuration lives in src/config/: settings.ts declares every setting once, load.ts parses them
// into Config, docs.ts writes the table of docs/configuration.md and .env.example from the declarations.
export { ConfigError, PASSWORD_MAX_LENGTH, autoHashConcurrency, autoWorkers, loadConfig, type Config, type RateLimit } from './config/load.js';
export { JWT_ALGORITHMS, type JwtAlgorithm } from './config/settings.js';
