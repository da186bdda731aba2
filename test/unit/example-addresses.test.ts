import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

// A reader pastes the examples into a live server: a webhook they register there is posted to for real.
// Every webhook URL in a copy-paste example (the documentation's code blocks, the Postman collections'
// bodies) names a receiver on the reader's own machine, or a host that no public DNS answers for (a
// Compose service such as `billing`, a reserved name such as `billing.internal.example`), never someone
// else's server on the internet (`https://app.example.com/hooks/…` resolves, and answers).

const ROOT = new URL('../..', import.meta.url).pathname;
const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');
const listed = (folder: string, keep: (name: string) => boolean) =>
  existsSync(join(ROOT, folder)) ? readdirSync(join(ROOT, folder)).filter(keep).map((name) => `${folder}/${name}`) : [];
const readmesIn = (folder: string) => listed(folder, () => true).map((dir) => `${dir}/README.md`).filter((file) => existsSync(join(ROOT, file)));

const PAGES = [
  'README.md',
  'CONTRIBUTING.md',
  ...listed('docs', (name) => name.endsWith('.md')),
  ...readmesIn('packages'),
  ...readmesIn('examples'),
  ...readmesIn('deploy'),
].filter((file) => existsSync(join(ROOT, file)));
const COLLECTIONS = [...listed('postman', (name) => name.endsWith('.postman_collection.json')), ...listed('postman/seed', (name) => name.endsWith('.json'))];

/** The fenced code blocks of a Markdown page, joined. */
function codeBlocks(markdown: string): string {
  return [...markdown.matchAll(/^\s*(`{3,}|~{3,})[^\n]*\n([\s\S]*?)^\s*\1\s*$/gm)].map((m) => m[2]).join('\n');
}

/** Every request body of a Postman collection. */
function bodies(node: unknown): string[] {
  if (Array.isArray(node)) return node.flatMap(bodies);
  if (typeof node !== 'object' || node === null) return [];
  const own = (node as { body?: { raw?: unknown } }).body?.raw;
  return [...(typeof own === 'string' ? [own] : []), ...Object.values(node).flatMap(bodies)];
}

/** The webhook URLs an example registers: `webhooks add <url>`, or a JSON `"url"`. */
function webhookUrls(text: string): string[] {
  const added = [...text.matchAll(/webhooks add\s+(\S+)/g)].map((m) => m[1]!);
  const bodied = [...text.matchAll(/"url"\s*:\s*"([^"]+)"/g)].map((m) => m[1]!);
  return [...added, ...bodied].filter((url) => !url.startsWith('<'));
}

// Names no public resolver answers for: RFC 2606 and RFC 6761's reserved ones, and those ICANN keeps for private use.
const PRIVATE_NAMES = /\.(example|test|invalid|localhost|local|internal)$/;

/** Whether a live server posting to this URL reaches only the reader's machine or their private network. */
function staysLocal(url: string): boolean {
  if (url.startsWith('{{baseUrl}}')) return true; // Postman: the server under test itself
  const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  if (host === 'localhost' || host === '::1' || host.startsWith('127.')) return true;
  if (isIP(host)) return false;
  return !host.includes('.') || PRIVATE_NAMES.test(host);
}

describe('webhook addresses in copy-paste examples', () => {
  it('tell a local or private receiver from a server on the internet', () => {
    expect(webhookUrls('npx latchkey webhooks add https://app.example.com/hooks --json\n-d \'{"url": "http://127.0.0.1:8002/x"}\'')).toEqual([
      'https://app.example.com/hooks',
      'http://127.0.0.1:8002/x',
    ]);
    for (const url of ['http://127.0.0.1:8002/hooks', 'http://localhost:8001/sync_user', 'http://[::1]:8002/', 'http://billing:8001/hooks', 'https://billing.internal.example/hooks', '{{baseUrl}}/receiver'])
      expect(staysLocal(url), url).toBe(true);
    for (const url of ['https://app.example.com/hooks/latchkey', 'https://example.com/hooks', 'https://hooks.example.com/latchkey', 'http://203.0.113.7/hooks'])
      expect(staysLocal(url), url).toBe(false);
  });

  it('name a receiver on the reader\'s machine or private network, never one on the internet', () => {
    const found = [
      ...PAGES.flatMap((page) => webhookUrls(codeBlocks(read(page))).map((url) => ({ where: page, url }))),
      ...COLLECTIONS.flatMap((file) => bodies(JSON.parse(read(file))).flatMap(webhookUrls).map((url) => ({ where: file, url }))),
    ];
    // The examples this checks are there to be checked.
    expect(found.map((f) => f.where)).toEqual(expect.arrayContaining(['docs/api.md', 'docs/services.md', 'postman/latchkey.postman_collection.json']));
    expect(found.filter((f) => !staysLocal(f.url))).toEqual([]);
  });
});
