import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { textBetween } from '../../src/config/docs.js';
import { ERRORS } from '../../src/errors.js';
import { ERRORS_END, ERRORS_START, renderErrorTable } from '../../scripts/error-docs.js';

// The documentation stays true by test: the generated error table, and every relative link and anchor.

/** The repository's root, wherever in test/ this file sits: the nearest folder above with a package.json. */
function repositoryRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  return dir;
}

const root = repositoryRoot();
const read = (file: string) => readFileSync(join(root, file), 'utf8');
const inFolder = (folder: string, keep: (name: string) => boolean) =>
  existsSync(join(root, folder)) ? readdirSync(join(root, folder)).filter(keep).map((name) => `${folder}/${name}`) : [];
const readmesIn = (folder: string) =>
  inFolder(folder, () => true).flatMap((dir) => (existsSync(join(root, dir, 'README.md')) ? [`${dir}/README.md`] : []));

/** The pages whose links are checked: the front door, the docs, and the READMEs that link into them. */
const PAGES = [
  'README.md',
  'CONTRIBUTING.md',
  ...inFolder('docs', (name) => name.endsWith('.md')),
  'bench/results/README.md',
  ...readmesIn('packages'),
  ...readmesIn('examples'),
  'deploy/pulumi/README.md',
].filter((page) => existsSync(join(root, page)));

/** The lines of a Markdown page outside fenced code blocks, with their numbers. */
function proseLines(text: string): { line: string; at: number }[] {
  const out: { line: string; at: number }[] = [];
  let fence: string | undefined;
  text.split('\n').forEach((line, i) => {
    const marker = /^\s*(`{3,}|~{3,})/.exec(line)?.[1];
    if (marker && (fence === undefined || marker.startsWith(fence))) fence = fence === undefined ? marker : undefined;
    else if (fence === undefined) out.push({ line, at: i + 1 });
  });
  return out;
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function slugOf(heading: string): string {
  return heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/<[^>]*>/g, '')
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, '')
    .replace(/ /g, '-');
}

/** The anchors a page defines: its headings (repeated ones numbered, as GitHub does) and explicit ids. */
function anchorsOf(text: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const { line } of proseLines(text)) {
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)?.[1];
    if (heading !== undefined) {
      const slug = slugOf(heading);
      const count = seen.get(slug) ?? 0;
      seen.set(slug, count + 1);
      anchors.add(count === 0 ? slug : `${slug}-${count}`);
    }
    for (const m of line.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) anchors.add(m[1]!);
  }
  return anchors;
}

/** The relative links of a page (inline and reference-style), outside code. */
function linksOf(text: string): { target: string; at: number }[] {
  const links: { target: string; at: number }[] = [];
  for (const { line, at } of proseLines(text)) {
    const prose = line.replace(/(`+)[^`]*?\1/g, '');
    for (const m of prose.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) links.push({ target: m[1]!, at });
    const reference = /^\s*\[[^\]]+\]:\s*(\S+)/.exec(prose)?.[1];
    if (reference) links.push({ target: reference, at });
  }
  return links.filter(({ target }) => !/^([a-z][a-z0-9+.-]*:|\/\/)/i.test(target));
}

/** What is wrong with one link of `page`, or undefined. */
function brokenLink(page: string, target: string): string | undefined {
  const [path = '', fragment] = target.split('#', 2);
  const file = path === '' ? join(root, page) : resolve(join(root, dirname(page)), decodeURIComponent(path));
  if (!file.startsWith(root)) return 'points outside the repository';
  if (!existsSync(file)) return `${relative(root, file)} does not exist`;
  if (fragment === undefined || !file.endsWith('.md') || statSync(file).isDirectory()) return undefined;
  return anchorsOf(readFileSync(file, 'utf8')).has(decodeURIComponent(fragment).toLowerCase())
    ? undefined
    : `${relative(root, file)} has no heading for #${fragment}`;
}

describe('the error table of docs/api.md', () => {
  it('is the one the catalogue gives', () => {
    const table = textBetween(read('docs/api.md'), { start: ERRORS_START, end: ERRORS_END });
    expect(table, `docs/api.md has no ${ERRORS_START} … ${ERRORS_END} markers`).toBeDefined();
    expect(table, 'docs/api.md\'s error table is out of date: run `npm run docs` and commit the result').toBe(renderErrorTable());
  });

  it('has one row per code, grouped by status', () => {
    const rows = renderErrorTable().split('\n').slice(2);
    expect(rows.map((row) => /`([a-z_]+)`/.exec(row)?.[1]).sort()).toEqual(Object.keys(ERRORS).sort());
    const statuses = rows.map((row) => Number(row.split('|')[1]));
    expect(statuses).toEqual([...statuses].sort((a, b) => a - b));
  });
});

describe('the documentation', () => {
  it('finds GitHub anchors as GitHub makes them', () => {
    expect(slugOf("The seed's app service")).toBe('the-seeds-app-service');
    expect(slugOf('Public keys (JWKS)')).toBe('public-keys-jwks');
    expect(slugOf('`WORKERS=auto`')).toBe('workersauto');
    expect(slugOf('Why signin sits at 0.77–0.88 of raw argon2id')).toBe('why-signin-sits-at-077088-of-raw-argon2id');
    expect([...anchorsOf('# A\n\n```sh\n# not a heading\n```\n## A\n')]).toEqual(['a', 'a-1']);
  });

  it('has relative links that reach a file and, with a #fragment, a heading of it', () => {
    expect(PAGES).toContain('docs/architecture.md');
    const broken = PAGES.flatMap((page) =>
      linksOf(read(page)).flatMap(({ target, at }) => {
        const why = brokenLink(page, target);
        return why ? [`${page}:${at}: (${target}) ${why}`] : [];
      }),
    );
    expect(broken).toEqual([]);
  });

  it('keeps the README a front door that links every page of docs/', () => {
    const readme = read('README.md');
    expect(readme.split('\n').length).toBeLessThanOrEqual(300);
    const linked = new Set(linksOf(readme).map(({ target }) => target.split('#')[0]));
    for (const page of inFolder('docs', (name) => name.endsWith('.md'))) expect(linked, page).toContain(page);
  });
});
