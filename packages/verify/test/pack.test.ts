import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/core/clock.js';
import { runOperation } from '../../../src/control/operations.js';
import { bearer, signIn, signUp, startTestApp, type TestApp } from '../../../test/helpers/app.js';
import { freePort } from '../../../test/helpers/services.js';

const run = promisify(execFile);
const PACKAGE = join(dirname(fileURLToPath(import.meta.url)), '..');
const REPOSITORY = join(PACKAGE, '..', '..');

/**
 * The package as a service outside this repository gets it: `npm pack` (which builds it), the tarball
 * installed in a scratch project in the system's temporary folder (its dependencies from the registry),
 * and the README's example, type-checked against the installed declarations and run against a real Latchkey.
 */
describe('@latchkey/verify packed and installed outside the repository', () => {
  let scratch: string;
  let tarball: string;
  let t: TestApp;
  let base: string;

  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'latchkey-verify-consumer-'));
    const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', scratch], { cwd: PACKAGE, maxBuffer: 1 << 24 });
    const [packed] = JSON.parse(stdout.slice(stdout.indexOf('['))) as { filename: string; files: { path: string }[] }[];
    tarball = join(scratch, packed!.filename);
    (globalThis as { packedFiles?: string[] }).packedFiles = packed!.files.map((f) => f.path);

    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    // Its issuer is the address it is reached at, as in the README's example (jwksUrl left to its default).
    t = await startTestApp({ realClock: systemClock, env: { PUBLIC_URL: base } });
    await t.app.listen({ port, host: '127.0.0.1' });
  }, 180_000);
  afterAll(async () => {
    await t?.close();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it('packs dist/ with its declarations, the sources, the README and an MIT LICENSE, and nothing else', async () => {
    const files = (globalThis as { packedFiles?: string[] }).packedFiles!;
    for (const entry of ['index', 'fastify', 'express', 'webhooks']) expect(files).toEqual(expect.arrayContaining([`dist/${entry}.js`, `dist/${entry}.d.ts`]));
    expect(files).toEqual(expect.arrayContaining(['package.json', 'README.md', 'LICENSE']));
    expect(files.filter((f) => !/^(dist|src)\//.test(f) && !['package.json', 'README.md', 'LICENSE'].includes(f))).toEqual([]);
    expect(await readFile(join(PACKAGE, 'LICENSE'), 'utf8')).toMatch(/^MIT License\n\nCopyright \(c\) \d{4} The Latchkey authors\n/);
    const pkg = JSON.parse(await readFile(join(PACKAGE, 'package.json'), 'utf8')) as Record<string, unknown>;
    expect(pkg).toMatchObject({ license: 'MIT', publishConfig: { access: 'public' }, scripts: { prepack: 'npm run build' } });
    expect(pkg.private).toBeUndefined();
  });

  it("installs from the tarball in a project of its own, and the README's example verifies a real Latchkey's tokens", async () => {
    await writeFile(join(scratch, 'package.json'), JSON.stringify({ name: 'orders-api', private: true, type: 'module' }));
    await run('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts', tarball], { cwd: scratch, maxBuffer: 1 << 24 });

    const readme = await readFile(join(PACKAGE, 'README.md'), 'utf8');
    const example = /## Use\n\n```ts\n([\s\S]*?)```/.exec(readme)![1]!.replaceAll('https://auth.example.com', base);
    await writeFile(join(scratch, 'example.ts'), example);
    await writeFile(
      join(scratch, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, outDir: '.',
          types: ['node'], typeRoots: [join(REPOSITORY, 'node_modules/@types')],
        },
        files: ['example.ts'],
      }),
    );
    // Type-checked against the declarations the tarball installed, then compiled to example.js.
    await run(process.execPath, [join(REPOSITORY, 'node_modules/typescript/bin/tsc'), '-p', scratch], { cwd: scratch }).catch((e: { stdout: string }) => {
      throw new Error(`the README's example does not compile against the package:\n${e.stdout}`);
    });
    await writeFile(
      join(scratch, 'service.js'),
      `const { authenticate, verifier } = await import('./example.js');
const results = [];
for (const token of process.env.TOKENS.split(',')) results.push(await authenticate('Bearer ' + token));
verifier.close();
process.stdout.write('RESULTS ' + JSON.stringify(results) + '\\n');`,
    );

    const client = (await runOperation(t.deps as never, 'services.create', { name: 'orders-api', scopes: ['revocations:read'] }, { actor: 'test' })) as {
      client_id: string;
      client_secret: string;
    };
    const user = await signUp(t);
    const live = await signIn(t, user.email);
    const loggedOut = await signIn(t, user.email);
    expect((await t.inject({ method: 'POST', url: '/api/logout', headers: bearer(loggedOut.access_token) })).statusCode).toBe(200);

    const { stdout } = await run(process.execPath, ['service.js'], {
      cwd: scratch,
      timeout: 30_000,
      env: {
        PATH: process.env.PATH,
        LATCHKEY_FEED_CLIENT_ID: client.client_id,
        LATCHKEY_FEED_SECRET: client.client_secret,
        TOKENS: [live.access_token, loggedOut.access_token, 'not-a-token'].join(','),
      },
    });
    const results = JSON.parse(/^RESULTS (.*)$/m.exec(stdout)![1]!) as ({ sub: string; iss: string } | null)[];
    expect(results[0]).toMatchObject({ sub: user.id, iss: base });
    expect(results.slice(1)).toEqual([null, null]);
    // The example logs why: the feed replayed the logout before ready() resolved.
    expect(stdout).toContain('session_revoked 401');
    expect(stdout).toContain('invalid_token 401');
  }, 180_000);
});
