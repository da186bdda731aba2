import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  peerDependencies: Record<string, string>;
  peerDependenciesMeta: Record<string, { optional?: boolean }>;
  exports: Record<string, { types: string; default: string } | string>;
};

function importsOf(file: string): string[] {
  const code = readFileSync(join(ROOT, 'src', file), 'utf8');
  const runtime = code.replace(/^(import|export) type [^;]*;/gm, '');
  return [...runtime.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*)'([^']+)'/g)].map((m) => m[1]!);
}

describe('the @latchkey/verify package', () => {
  const files = readdirSync(join(ROOT, 'src')).filter((f) => f.endsWith('.ts'));

  it("needs nothing of the server's code, nor any database driver: jose, eventsource-parser and node: only", () => {
    for (const file of files)
      for (const specifier of importsOf(file)) {
        expect(specifier.startsWith('./') && !specifier.includes('..') ? 'local' : specifier, `${file}: ${specifier}`).toMatch(
          /^(local|node:.*|jose|eventsource-parser|fastify|express)$/,
        );
      }
    expect(Object.keys(pkg.dependencies).sort()).toEqual(['eventsource-parser', 'jose']);
  });

  it('imports Fastify and Express only as types, in their own entry points, which are optional peers', () => {
    for (const file of files) {
      const code = readFileSync(join(ROOT, 'src', file), 'utf8');
      for (const framework of ['fastify', 'express']) {
        if (importsOf(file).includes(framework)) throw new Error(`${file} loads ${framework} at run time`);
        if (code.includes(`from '${framework}'`)) expect(file).toBe(`${framework}.ts`);
      }
    }
    for (const framework of ['fastify', 'express']) expect(pkg.peerDependenciesMeta[framework]?.optional).toBe(true);
  });

  it('exports each entry point with its types, from the built dist/', () => {
    for (const [path, target] of Object.entries(pkg.exports)) {
      if (path === './package.json') continue;
      const name = path === '.' ? 'index' : path.slice(2);
      expect(files).toContain(`${name}.ts`);
      expect(target).toEqual({ types: `./dist/${name}.d.ts`, default: `./dist/${name}.js` });
    }
  });

  it('uses the same major version of jose as the server', () => {
    const server = JSON.parse(readFileSync(join(ROOT, '..', '..', 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    expect(pkg.dependencies.jose!.split('.')[0]).toBe(server.dependencies.jose!.split('.')[0]);
  });
});
