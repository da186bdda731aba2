#!/usr/bin/env node
// `latchkey` (npx latchkey, or node bin/latchkey.js): the built command line when there is a build
// (`npm run build`, as `npm start` makes), otherwise its TypeScript sources through tsx, so that a
// fresh clone needs nothing but `npm ci`.
import { existsSync } from 'node:fs';
import { URL } from 'node:url';

const built = new URL('../dist/cli/main.js', import.meta.url);
if (existsSync(built)) {
  await import(built.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(new URL('../src/cli/main.ts', import.meta.url).href);
}
