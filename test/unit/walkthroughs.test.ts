// How test/process/walkthroughs.test.ts reads the documentation's walk-throughs and checks what they print,
// and the `field` helper they share (README.md's Try it), which must fail rather than print `undefined`.
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/server-process.js';
import { missingPrinted, pagesInReadmeOrder, walkthroughsOf } from '../helpers/walkthroughs.js';

describe('what a walk-through prints', () => {
  it('matches each documented answer, `…` standing for anything, in order', () => {
    const output = '{"message":"Welcome Ada!","user":{"id":"1"}}\nnoise\n{"error":"session_revoked","message":"gone"}\n';
    expect(missingPrinted(output, ['{"message":"Welcome Ada!","user":{…}}', '{"error":"session_revoked","message":"…"}'])).toEqual([]);
  });

  it('reports an answer that is not printed, printed otherwise, or printed before the previous one', () => {
    const output = '{"error":"session_revoked"}\n{"message":"Welcome Ada!"}\n';
    expect(missingPrinted(output, ['{"message":"Welcome Grace!"}'])).toEqual(['{"message":"Welcome Grace!"}']);
    expect(missingPrinted(output, ['{"message":"Welcome Ada!"}', '{"error":"session_revoked"}'])).toEqual(['{"error":"session_revoked"}']);
    // A pattern is a whole line: `…` does not make a prefix match.
    expect(missingPrinted('{"message":"Welcome Ada!"} and more\n', ['{"message":"Welcome Ada!"}'])).toHaveLength(1);
  });
});

describe('the marked blocks of a page', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'latchkey-walkthrough-unit-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('are read with their options and their documented answers; unmarked blocks are not', async () => {
    await writeFile(
      join(dir, 'page.md'),
      [
        '```sh', 'echo unmarked', '```',
        '<!-- walkthrough: first needs=PASSWORD,RESET_TOKEN requires=debian-python -->', '', '```sh', 'echo one', '# {"a":…}', '# prose', '```',
        '<!-- walkthrough: second background ready=http://127.0.0.1:8001/readyz -->', '```sh', 'npm start', '```',
      ].join('\n'),
    );
    const [first, second, ...rest] = walkthroughsOf(dir, 'page.md');
    expect(rest).toEqual([]);
    expect(first).toMatchObject({ name: 'first', line: 4, script: 'echo one\n# {"a":…}\n# prose\n', needs: ['PASSWORD', 'RESET_TOKEN'], requires: ['debian-python'], printed: ['{"a":…}'] });
    expect(first!.background).toBeUndefined();
    expect(second).toMatchObject({ name: 'second', script: 'npm start\n', background: { ready: 'http://127.0.0.1:8001/readyz' } });
  });

  it('must be a sh block right after its marker, and a background one names when it is ready', async () => {
    await writeFile(join(dir, 'loose.md'), '<!-- walkthrough: loose -->\nSome prose.\n```sh\necho\n```\n');
    expect(() => walkthroughsOf(dir, 'loose.md')).toThrow(/loose.md:1: a walkthrough marker must come right before a sh block/);
    await writeFile(join(dir, 'unready.md'), '<!-- walkthrough: app background -->\n```sh\nnpm start\n```\n');
    expect(() => walkthroughsOf(dir, 'unready.md')).toThrow(/ready=<url>/);
  });

  it('come from the README first, then from the pages in the order it first links them', () => {
    const pages = pagesInReadmeOrder(ROOT);
    expect(pages[0]).toBe('README.md');
    expect(pages.indexOf('docs/operations.md')).toBeLessThan(pages.indexOf('examples/app-service/README.md'));
  });
});

describe("the README's field helper", () => {
  const definition = () => {
    const script = walkthroughsOf(ROOT, 'README.md')[0]!.script;
    const start = script.indexOf('field() {');
    return script.slice(start, script.indexOf('\n}\n', start) + 2);
  };
  const field = (...args: string[]) =>
    spawnSync('bash', ['--norc', '-euo', 'pipefail', '-c', `${definition()}\nfield "$@"`, 'bash', ...args], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } });

  it('prints the value at a path', () => {
    expect(field('access_token', '{"access_token":"eyJ.a.b"}')).toMatchObject({ status: 0, stdout: 'eyJ.a.b\n' });
    expect(field('users.0.id', '{"users":[{"id":"u-1"}]}')).toMatchObject({ status: 0, stdout: 'u-1\n' });
  });

  it('fails, showing the answer, when the answer has no such field or is not JSON', () => {
    const taken = field('access_token', '{"error":"email_taken","message":"An account with this email already exists."}');
    expect(taken.status).toBe(1);
    expect(taken.stdout).toBe('');
    expect(taken.stderr).toContain('no access_token in: {"error":"email_taken"');
    expect(field('users.0.id', '{"users":[]}').status).toBe(1);
    expect(field('id', '<html>Bad Gateway</html>')).toMatchObject({ status: 1, stderr: expect.stringContaining('<html>Bad Gateway</html>') });
  });
});
