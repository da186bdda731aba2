// `npm run build [-- OUTDIR]`: bundles Latchkey's two programs, the server (src/main.ts) and the command
// line (src/cli/main.ts), with esbuild into dist/ (or OUTDIR): dist/main.js, dist/cli/main.js and the
// chunks they share in dist/chunks/. A bundle starts in a third of the time and memory of a module per
// file (the command line loaded 1,260 files before; TypeBox alone is 680), which every `latchkey`
// command and every start pays. Type-checking is `npm run typecheck`'s job. With no source changed
// since the last build, it does nothing (`npm start` builds first); `--force` builds anyway.
import { existsSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import process from 'node:process';
import { fileURLToPath, URL } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const outdir = resolve(root, args.find((a) => !a.startsWith('--')) ?? 'dist');
const stamp = join(outdir, '.build-stamp');

// Left to node_modules: packages that open files of their own at run time (PGlite's WebAssembly, the
// native argon2 and bcrypt, pino's worker threads, Swagger UI's pages) and optional ones never installed.
const EXTERNAL = ['@electric-sql/pglite', 'argon2', 'bcrypt', 'pino', 'pino-pretty', 'thread-stream', '@fastify/swagger-ui', 'pg-native'];

function newestChange(path) {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(stat.mtimeMs, ...readdirSync(path).map((entry) => newestChange(join(path, entry))));
}

const inputs = ['src', 'package.json', 'package-lock.json', 'scripts/build.mjs'].map((p) => join(root, p)).filter((p) => existsSync(p));
if (!args.includes('--force') && existsSync(stamp) && Math.max(...inputs.map(newestChange)) < statSync(stamp).mtimeMs) {
  process.stdout.write(`${outdir}: up to date\n`);
  process.exit(0);
}

rmSync(outdir, { recursive: true, force: true });
await build({
  entryPoints: { main: join(root, 'src/main.ts'), 'cli/main': join(root, 'src/cli/main.ts') },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  chunkNames: 'chunks/[name]-[hash]',
  sourcemap: true,
  external: EXTERNAL,
  // Bundled CommonJS modules call require(): an ES module has none, so each output file makes its own.
  banner: { js: "import { createRequire as __latchkeyCreateRequire } from 'node:module'; const require = __latchkeyCreateRequire(import.meta.url);" },
  logLevel: 'warning',
});
writeFileSync(stamp, '');
process.stdout.write(`${outdir}: built\n`);
