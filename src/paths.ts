import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Latchkey's folder: the nearest one above this module that holds package.json, whether it runs from the
 * sources (src/), from the build (dist/, where the bundler has moved this code into a chunk), or from a
 * test run's build. Files read at run time (migrations, the embedded template, package.json) are found
 * from here, never from a module's own location.
 */
function findRoot(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
  }
}

export const ROOT = findRoot();

/** A file or folder of Latchkey's, by its path from the root (`drizzle`, `embedded/template.tar.gz`). */
export const rootPath = (path: string) => join(ROOT, path);
