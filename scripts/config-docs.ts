// Rewrites the README's configuration table and .env.example from src/config/settings.ts.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderEnvExample, replaceTable } from '../src/config/docs.js';

const root = new URL('../', import.meta.url);
const readme = fileURLToPath(new URL('README.md', root));
writeFileSync(readme, replaceTable(readFileSync(readme, 'utf8')));
writeFileSync(fileURLToPath(new URL('.env.example', root)), renderEnvExample());
process.stdout.write('Wrote the configuration table in README.md, and .env.example\n');
