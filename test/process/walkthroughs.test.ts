// The README's walk-throughs, and those of the pages it links, run as a reader runs them: in the order
// the README links their pages, on one fresh server, in a copy of the repository as a fresh clone has it.
// The blocks are read from the Markdown (marked `<!-- walkthrough: … -->`, see test/helpers/walkthroughs.ts)
// and run as written, only Latchkey's and the example apps' ports changed to free ones. Each must succeed
// and print the answers its comments show; a failed step stops its shell, and the test shows its error.
import { spawnSync } from 'node:child_process';
import { writeFile, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { entry, ROOT, startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { freePort, TEST_REDIS_URL, uniqueRedisPrefix } from '../helpers/services.js';
import {
  allPages,
  Background,
  copyOfRepository,
  missingPrinted,
  pagesInReadmeOrder,
  Terminal,
  walkthroughsOf,
  type Walkthrough,
} from '../helpers/walkthroughs.js';
import { itUnless } from '../helpers/skip.js';
import { until } from '../helpers/webhook-receiver.js';

const PAGES = pagesInReadmeOrder(ROOT);
const WALKTHROUGHS = PAGES.flatMap((page) => walkthroughsOf(ROOT, page));

/** The ports the pages use: Latchkey's, the Node app service's and the Python one's. */
const DOC_PORTS = ['5001', '8001', '8002'] as const;

/** The reader's terminals: what a login shell has, nothing of the test's environment (Latchkey's settings are in .env). */
const TERMINAL_ENV: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', LANG: 'C.UTF-8' };

/** Why a walk-through cannot run on this machine, or undefined. */
function missingRequirement(walk: Walkthrough): string | undefined {
  for (const need of walk.requires) {
    if (need !== 'debian-python') return `unknown requirement ${need}`;
    // The page runs Debian's own Python, as test/process/app-service-python.test.ts does.
    const probe = spawnSync('/usr/bin/python3', ['-c', 'import fastapi, uvicorn, jwt, cryptography'], { encoding: 'utf8', env: TERMINAL_ENV });
    if (probe.status !== 0) {
      const reason = `/usr/bin/python3 lacks the example's packages (apt-get install python3-fastapi python3-uvicorn python3-jwt python3-cryptography)`;
      // CI installs them (.ci/run) and must run it.
      if (process.env.CI) throw new Error(`The Python example's walk-through is run in CI, and ${reason}.`);
      return reason;
    }
  }
  return undefined;
}

describe('the walk-throughs of the README and of the pages it links, in its order', () => {
  it('are marked where a reader meets them, and only on pages the README links', () => {
    expect(WALKTHROUGHS.map((w) => `${w.doc}: ${w.name}`)).toEqual([
      'README.md: try-it',
      'README.md: try-it-reset',
      'README.md: try-it-account-signup',
      'README.md: try-it-account',
      'README.md: try-it-account-change',
      'README.md: try-it-mfa',
      'docs/operations.md: command-line',
      'docs/api.md: admin-api',
      'examples/app-service/README.md: app-service-register',
      'examples/app-service/README.md: app-service-start',
      'examples/app-service/README.md: app-service-use',
      'examples/app-service/README.md: app-service-sso',
      'examples/app-service-python/README.md: app-service-python-register',
      'examples/app-service-python/README.md: app-service-python-start',
      'examples/app-service-python/README.md: app-service-python-use',
    ]);
    const unlinked = allPages(ROOT).filter((page) => !PAGES.includes(page) && walkthroughsOf(ROOT, page).length > 0);
    expect(unlinked).toEqual([]);
  });

  let clone: string;
  let database: TestDatabase;
  let server: ServerProcess;
  let terminal: Terminal;
  const backgrounds: Background[] = [];
  const ports = new Map<string, string>();
  let failed: string | undefined;

  /** The block as the page shows it, its ports (in an address, or a `PORT=` setting) changed to this run's. */
  const localised = (text: string) => text.replace(/(?<=(?:localhost|127\.0\.0\.1):|\bPORT=)(5001|8001|8002)\b/g, (port) => ports.get(port)!);

  /** The last match's first group in the server's log (its emails, without SMTP_URL), waiting for one. */
  async function fromLog(what: string, pattern: RegExp): Promise<string> {
    const found = await until(() => [...server.output().matchAll(pattern)], (l) => l.length > 0, 10_000);
    if (found.length === 0) throw new Error(`no ${what} in the server's log:\n${server.output()}`);
    return found.at(-1)![1]!;
  }

  /** What the reader types before a block that needs it. */
  async function provide(name: string): Promise<string> {
    if (name === 'PASSWORD') return 'correct horse battery staple';
    if (name === 'RESET_TOKEN') {
      // The link the server wrote to its log (no SMTP_URL): the reader copies its last part.
      const links = () => [...server.output().matchAll(/\/reset-password\/([A-Za-z0-9_-]+)/g)];
      const found = await until(links, (l) => l.length > 0, 10_000);
      if (found.length === 0) throw new Error(`no reset link in the server's log:\n${server.output()}`);
      return found.at(-1)![1]!;
    }
    if (name === 'VERIFY_CODE') return fromLog('a verification code', /"to":"ada@example\.com","subject":"Confirm your email address","text":"[^"]*enter this code: ([0-9]{6})/g);
    // The confirmation sent to the new address (the notice to the old one links elsewhere).
    if (name === 'CHANGE_TOKEN') return fromLog('an email change link', /"subject":"Confirm your new email address","text":"[^"]*\/verify-email\/([A-Za-z0-9_-]+)/g);
    throw new Error(`no way to provide ${name}`);
  }

  beforeAll(async () => {
    clone = await copyOfRepository(ROOT);
    database = await createTestDatabase();
    for (const port of DOC_PORTS) ports.set(port, String(await freePort()));
    // The reader's settings, as a line of .env each: the database server, when there is one (the embedded
    // engine needs none: ./data of the copy).
    const settings = database.url
      ? [`DATABASE_URL=${database.url}`, `SECRET_KEY=${database.secretKey}`, ...(TEST_REDIS_URL ? [`REDIS_URL=${TEST_REDIS_URL}`, `REDIS_KEY_PREFIX=${uniqueRedisPrefix()}`] : [])]
      : [];
    await writeFile(join(clone, '.env'), settings.map((l) => `${l}\n`).join(''));
    // `npm start`, as the README's quick start runs it (its log at the default level: the reset link is there).
    // A build this run made (LATCHKEY_TEST_BUILD) is named from the checkout's root; the sources run the copy's own.
    const command = entry('main').map((arg) => (arg.endsWith('.js') ? resolve(ROOT, arg) : arg));
    server = await startServerProcess({ LOG_LEVEL: 'info', PORT: ports.get('5001')! }, command, { cwd: clone });
    await server.ready();
    terminal = new Terminal(clone, TERMINAL_ENV);
  }, 120_000);

  afterAll(async () => {
    await terminal?.close();
    for (const background of backgrounds) await background.stop();
    await server?.stop();
    await database?.drop();
    if (clone) await rm(clone, { recursive: true, force: true });
  });

  for (const walk of WALKTHROUGHS) {
    const title = `${walk.doc}: ${walk.name} (line ${walk.line})`;
    const missing = missingRequirement(walk);
    if (missing) {
      itUnless(missing)(title, () => {});
      continue;
    }
    it(title, async () => {
      // A reader stops at the first walk-through that fails: the ones after it are not theirs to run.
      if (failed) throw new Error(`not run: ${failed} failed first`);
      try {
        const script = localised(walk.script);
        if (walk.background) {
          const background = new Background(clone, TERMINAL_ENV, script);
          backgrounds.push(background);
          await background.ready(localised(walk.background.ready));
          return;
        }
        const vars = Object.fromEntries(await Promise.all(walk.needs.map(async (n) => [n, await provide(n)])));
        const run = await terminal.run(script, vars);
        const context = `${title} printed:\n${run.output}\n${backgrounds.map((b) => `a second terminal printed:\n${b.output()}`).join('\n')}`;
        expect(run.code, context).toBe(0);
        expect(missingPrinted(run.output, walk.printed.map(localised)), context).toEqual([]);
      } catch (err) {
        failed = title;
        throw err;
      }
    }, 360_000);
  }

  it('stop at the first failed step, with its error: the README\'s, run again, meets its own account', async () => {
    if (failed) throw new Error(`not run: ${failed} failed first`);
    const again = new Terminal(clone, TERMINAL_ENV);
    try {
      const run = await again.run(localised(WALKTHROUGHS[0]!.script));
      expect(run.code, run.output).toBe(22); // curl --fail-with-body on an error answer
      expect(run.output).toContain('{"error":"email_taken"');
      expect(run.output).not.toContain('Sign-in successful');
    } finally {
      await again.close();
    }
  });
});
