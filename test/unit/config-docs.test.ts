import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderEnvExample, renderTable, TABLE_END, TABLE_START } from '../../src/config/docs.js';
import { loadConfig, toConfig } from '../../src/config/load.js';
import { GROUPS, SETTINGS, type Env, type Setting } from '../../src/config/settings.js';

const FIX = 'is out of date: run `npm run docs` and commit the result';
const read = (file: string) => readFileSync(new URL(file, repositoryRoot()), 'utf8');

/** The repository's root, wherever in test/ this file sits: the nearest folder above with a package.json. */
function repositoryRoot(): URL {
  let dir = new URL('./', import.meta.url);
  while (!existsSync(new URL('package.json', dir))) dir = new URL('../', dir);
  return dir;
}
const settings = Object.entries(SETTINGS) as [string, Setting<unknown>][];

describe('configuration docs', () => {
  it("docs/configuration.md's settings table is the one the declarations give", () => {
    const doc = read('docs/configuration.md');
    const start = doc.indexOf(TABLE_START);
    const end = doc.indexOf(TABLE_END);
    expect(start, `docs/configuration.md has no ${TABLE_START} marker`).toBeGreaterThanOrEqual(0);
    expect(end, `docs/configuration.md has no ${TABLE_END} marker after ${TABLE_START}`).toBeGreaterThan(start);
    expect(doc.slice(start + TABLE_START.length, end).trim(), `docs/configuration.md's settings table ${FIX}`).toBe(renderTable());
  });

  it('.env.example is the one the declarations give', () => {
    expect(read('.env.example'), `.env.example ${FIX}`).toBe(renderEnvExample());
  });

  it('.env.example, loaded as it is, gives the defaults', () => {
    const env = Object.fromEntries(
      read('.env.example')
        .split('\n')
        .filter((line) => /^[A-Z]/.test(line))
        .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
    );
    expect(loadConfig(env)).toEqual(loadConfig({}));
  });

  it('declares defaults and examples that parse, one-line descriptions, no value for a secret', () => {
    for (const [name, s] of settings) {
      for (const value of [s.default, s.example]) {
        if (value !== undefined) expect(() => s.parse(value), `${name}=${value}`).not.toThrow();
      }
      expect(s.doc, name).toMatch(/^[^\n|]+$/);
      expect(s.group in GROUPS, name).toBe(true);
      if (s.secret) expect([s.default, s.example], name).toEqual([undefined, undefined]);
    }
  });

  it('puts every declared setting somewhere in Config', () => {
    const read = new Set<string>();
    const defaults = Object.fromEntries(settings.map(([name, s]) => [name, s.default ?? s.example]));
    const e = new Proxy(defaults, {
      get(target, name: string) {
        read.add(name);
        return target[name] === undefined ? undefined : SETTINGS[name as keyof Env].parse(target[name]);
      },
    });
    toConfig(e as unknown as Env);
    expect(settings.map(([name]) => name).filter((name) => !read.has(name))).toEqual([]);
  });
});
