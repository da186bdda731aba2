// Makes embedded/template.tar.gz, the new cluster every new embedded database starts from
// (src/db/embedded-template.ts): `npm run db:template`, after an upgrade of @electric-sql/pglite that
// test/db/embedded-template.test.ts says the template no longer matches. Peaks at 650-700 MB (PGlite's initdb).
import { writeFile } from 'node:fs/promises';
import { EMBEDDED_TEMPLATE, makeTemplate } from '../src/db/embedded-template.js';

const image = await makeTemplate();
await writeFile(EMBEDDED_TEMPLATE, Buffer.from(await image.arrayBuffer()));
process.stdout.write(`Wrote embedded/template.tar.gz (${image.size} bytes)\n`);
