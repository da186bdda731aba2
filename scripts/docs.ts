// Rewrites the generated parts of the documentation: the settings table of docs/configuration.md and
// .env.example (from src/config/settings.ts), the error table of docs/api.md (from src/errors.ts).
// `npm run docs` writes all of them; `npm run docs:config` or `docs:errors` one kind.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderEnvExample, replaceTable } from '../src/config/docs.js';
import { replaceErrorTable } from './error-docs.js';

const root = new URL('../', import.meta.url);
const path = (file: string) => fileURLToPath(new URL(file, root));
const rewrite = (file: string, change: (text: string) => string) => writeFileSync(path(file), change(readFileSync(path(file), 'utf8')));

const which = process.argv[2];
if (which !== undefined && which !== 'config' && which !== 'errors') {
  process.stderr.write(`usage: tsx scripts/docs.ts [config|errors]\n`);
  process.exit(2);
}
if (which !== 'errors') {
  rewrite('docs/configuration.md', replaceTable);
  writeFileSync(path('.env.example'), renderEnvExample());
  process.stdout.write('Wrote the settings table in docs/configuration.md, and .env.example\n');
}
if (which !== 'config') {
  rewrite('docs/api.md', replaceErrorTable);
  process.stdout.write('Wrote the error table in docs/api.md\n');
}
