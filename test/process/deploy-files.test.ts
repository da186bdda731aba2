import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { cp, mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, posix, resolve } from 'node:path';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, inject, it, onTestFinished } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { parseDuration } from '../../src/duration.js';
import {
  dependsOn,
  environmentOf,
  interpolate,
  MissingVariableError,
  portsOf,
  readComposeFile,
  readEnvFile,
  variableNames,
  type ComposeFile,
  type Variables,
} from '../helpers/compose.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import {
  copiedTo,
  copiesOf,
  execForm,
  healthcheckCommand,
  instructionsOf,
  pathOf,
  properties,
  readStages,
  symlinksOf,
  words,
  type Stage,
} from '../helpers/dockerfile.js';
import { freePort, TEST_REDIS_URL } from '../helpers/services.js';
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp.js';
import { anyOf, describeUnless, NO_POSTGRES, NO_REDIS } from '../helpers/skip.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const DEPLOY = join(ROOT, 'deploy');
const COMPOSE_FILE = join(DEPLOY, 'compose.yml');
const DOCKERFILE = join(DEPLOY, 'docker/Dockerfile');

const stages = readStages(readFileSync(DOCKERFILE, 'utf8'));
const final = stages.at(-1)!;
const exampleEnv = readEnvFile(join(DEPLOY, '.env.example'));
const SECRETS = ['SECRET_KEY', 'POSTGRES_PASSWORD', 'PGADMIN_PASSWORD'];
/** deploy/.env.example with its empty secrets filled in, as the README asks. */
const filledIn: Variables = {
  ...exampleEnv,
  SECRET_KEY: randomBytes(32).toString('base64'),
  POSTGRES_PASSWORD: randomBytes(24).toString('hex'),
  PGADMIN_PASSWORD: randomBytes(12).toString('hex'),
};
const compose = readComposeFile(COMPOSE_FILE, filledIn);
const service = (name: string) => compose.services[name]!;
const workdir = words(instructionsOf(final, 'WORKDIR').at(-1)!)[0]!;
const exposed = instructionsOf(final, 'EXPOSE').flatMap(words).map((p) => Number(p.replace(/\/\w+$/, '')));

describe('deploy/compose.yml', () => {
  it('is read with its variables filled in as Compose fills them (this test\'s helper)', () => {
    const v = { A: 'a', E: '' };
    expect(interpolate('$$A ${A} $A ${B:-d} ${E:-d} ${E-d} ${A:+r} ${B+r} $${X}', v)).toBe('$A a a d d  r  ${X}');
    expect(() => interpolate('${E:?set E}', v)).toThrow('E: set E');
    expect(interpolate('${E?set E}', v)).toBe('');
    expect(() => interpolate('${A:-${B}}', v)).toThrow('does not know');
  });

  it('is valid under the Compose Specification schema, before and after its variables are filled in', () => {
    const schema = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/compose-spec/compose-spec.json'), 'utf8')) as object;
    // strict: false for the annotations the schema uses beyond draft-07 (`deprecated`); it names draft-07's
    // meta-schema by an https address, which Ajv knows by its http one.
    const ajv = new Ajv({ allErrors: true, strict: false });
    const draft07 = createRequire(import.meta.url)('ajv/dist/refs/json-schema-draft-07.json') as object;
    ajv.addMetaSchema({ ...draft07, $id: 'https://json-schema.org/draft-07/schema' });
    const validate = ajv.compile(schema);
    for (const file of [parse(readFileSync(COMPOSE_FILE, 'utf8')) as unknown, compose]) {
      validate(file);
      expect(validate.errors ?? []).toEqual([]);
    }
  });

  it('refuses to start while a secret is unset; deploy/.env.example commits none of them', () => {
    for (const name of SECRETS) {
      expect(exampleEnv[name]).toBe('');
      expect(() => readComposeFile(COMPOSE_FILE, { ...filledIn, [name]: '' })).toThrow(MissingVariableError);
      expect(() => readComposeFile(COMPOSE_FILE, { ...filledIn, [name]: undefined })).toThrow(name);
    }
    // No password or key is written into the file itself: each one is a required variable.
    const raw = parse(readFileSync(COMPOSE_FILE, 'utf8')) as ComposeFile;
    for (const [name, svc] of Object.entries(raw.services))
      for (const [key, value] of Object.entries(environmentOf(svc)))
        if (/PASSWORD|SECRET|(^|_)KEY$/.test(key)) expect(value, `${name}.${key}`).toMatch(/^\$\{[A-Z_]+:\?[^}]+\}$/);
    expect(environmentOf(raw.services.latchkey!).DATABASE_URL).toContain('${POSTGRES_PASSWORD:?');
  });

  it('reads only variables that deploy/.env.example lists, and .env.example lists only those', () => {
    expect([...variableNames(readFileSync(COMPOSE_FILE, 'utf8'))].sort()).toEqual(Object.keys(exampleEnv).sort());
  });

  it('publishes Latchkey and the two web UIs only, the UIs on loopback; PostgreSQL and Redis stay inside', () => {
    const published = Object.entries(compose.services).filter(([, s]) => portsOf(s).length > 0).map(([name]) => name);
    expect(published.sort()).toEqual(['latchkey', 'mailpit', 'pgadmin']);
    for (const name of ['postgres', 'redis']) expect(service(name).network_mode).toBeUndefined();
    expect(portsOf(service('latchkey'))).toEqual([{ hostIp: undefined, published: '5001', target: exposed[0] }]);
    expect(portsOf(service('pgadmin'))).toEqual([{ hostIp: '127.0.0.1', published: '5050', target: 80 }]);
    expect(portsOf(service('mailpit'))).toEqual([{ hostIp: '127.0.0.1', published: '8025', target: 8025 }]);
  });

  it('pins every image to an exact version', () => {
    for (const [name, svc] of Object.entries(compose.services)) {
      if (name === 'latchkey') continue;
      expect(svc.image, name).toMatch(/^[\w./-]+:v?\d+\.\d+(\.\d+)?(-[\w.-]+)?(@sha256:[0-9a-f]{64})?$/);
    }
  });

  it('runs PostgreSQL 15 with a health check and a named volume, and Latchkey once PostgreSQL is healthy', () => {
    const postgres = service('postgres');
    expect(postgres.image).toMatch(/^postgres:15\./);
    expect(postgres.healthcheck?.test).toContain('pg_isready');
    const volume = (postgres.volumes ?? []).map(String).find((v) => v.endsWith(':/var/lib/postgresql/data'));
    expect(Object.keys(compose.volumes ?? {})).toContain(volume?.split(':')[0]);
    expect(dependsOn(service('latchkey'))).toMatchObject({ postgres: 'service_healthy', redis: 'service_healthy' });
    expect(service('redis').healthcheck?.test).toContain('ping');
  });

  it('points Latchkey and pgAdmin at the database, the user and the password PostgreSQL is created with', () => {
    const pg = environmentOf(service('postgres'));
    const env = environmentOf(service('latchkey'));
    const url = new URL(env.DATABASE_URL!);
    expect([url.hostname, url.port, url.username, url.password, url.pathname]).toEqual([
      'postgres',
      '5432',
      pg.POSTGRES_USER,
      filledIn.POSTGRES_PASSWORD,
      `/${pg.POSTGRES_DB}`,
    ]);
    expect(pg.POSTGRES_PASSWORD).toBe(filledIn.POSTGRES_PASSWORD);
    expect(new URL(env.REDIS_URL!).host).toBe('redis:6379');
    // Mailpit's SMTP port; its web UI shows what arrives.
    expect(new URL(env.SMTP_URL!).host).toBe('mailpit:1025');
    expect(env.SECRET_KEY).toBe(filledIn.SECRET_KEY);

    const mount = (service('pgadmin').volumes ?? []).map(String).find((v) => v.includes(':/pgadmin4/servers.json'));
    const servers = JSON.parse(readFileSync(resolve(DEPLOY, mount!.split(':')[0]!), 'utf8')) as {
      Servers: Record<string, { Host: string; Port: number; Username: string; MaintenanceDB: string }>;
    };
    expect(Object.values(servers.Servers)).toEqual([
      expect.objectContaining({ Host: 'postgres', Port: 5432, Username: pg.POSTGRES_USER, MaintenanceDB: pg.POSTGRES_DB }),
    ]);
    expect(environmentOf(service('pgadmin')).PGADMIN_DEFAULT_PASSWORD).toBe(filledIn.PGADMIN_PASSWORD);
  });

  it('builds Latchkey from deploy/docker/Dockerfile, the repository its context, and gives it time to drain', () => {
    const build = service('latchkey').build!;
    expect(resolve(DEPLOY, build.context)).toBe(resolve(ROOT));
    expect(resolve(ROOT, build.dockerfile!)).toBe(DOCKERFILE);
    // The command and entrypoint are the image's.
    expect(service('latchkey').command).toBeUndefined();
    expect(service('latchkey').entrypoint).toBeUndefined();
    const shutdownTimeout = loadConfig({ ...properties(final, 'ENV'), ...environmentOf(service('latchkey')) }).shutdownTimeout;
    expect(parseDuration(service('latchkey').stop_grace_period!)).toBeGreaterThan(shutdownTimeout);
  });
});

describe('deploy/docker/Dockerfile', () => {
  const stageNames = new Set(stages.map((s) => s.name));

  it('pins every base image to an exact version', () => {
    for (const { from } of stages) {
      if (stageNames.has(from.getImageName() ?? '')) continue;
      const pinned = from.getImageDigest() !== null || /^\d+\.\d+\.\d+(-[\w.-]+)?$/.test(from.getImageTag() ?? '');
      expect(pinned, from.getImage() ?? '').toBe(true);
    }
  });

  it('runs the final stage as a user other than root', () => {
    const user = instructionsOf(final, 'USER').at(-1);
    expect(user).toBeDefined();
    expect(words(user!)[0]).not.toMatch(/^(root|0)(:.*)?$/);
  });

  it('has a HEALTHCHECK in exec form that needs nothing but node', () => {
    const [healthcheck] = instructionsOf(final, 'HEALTHCHECK');
    expect(healthcheckCommand(healthcheck!)[0]).toBe('node');
  });

  it('sets no ENV or ARG that looks like a secret, in any stage', () => {
    for (const stage of stages)
      for (const [name, value] of Object.entries({ ...properties(stage, 'ARG'), ...properties(stage, 'ENV') })) {
        expect(name).not.toMatch(/SECRET|PASSW|TOKEN|CREDENTIAL|PRIVATE|(^|_)KEY$/i);
        expect(value, name).not.toMatch(/:\/\/[^/\s]*:[^/\s]*@/);
      }
  });

  it('installs production dependencies only in what the final stage gets', () => {
    const isInstall = (run: string) => /\bnpm (ci|install|i)\b/.test(run);
    const runs = (stage: Stage) => instructionsOf(stage, 'RUN').map((i) => words(i).join(' '));
    expect(runs(final).filter(isInstall)).toEqual([]);
    const copies = copiesOf(final);
    const modules = copies.find((c) => c.sources.some((s) => s.endsWith('/node_modules')));
    const from = stages.find((s) => s.name === modules?.from);
    expect(from, 'node_modules copied from a stage').toBeDefined();
    expect(runs(from!).filter(isInstall)).toEqual([expect.stringMatching(/^npm ci .*--omit=dev\b/)]);
    // Nothing else brings a whole folder of the context (and its node_modules) in.
    for (const copy of copies) expect(copy.sources).not.toContain('.');
  });

  it('leaves out no package the server imports: each is a production dependency', () => {
    const { dependencies } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const imported = new Set<string>();
    for (const file of readdirSync(join(ROOT, 'src'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'))) {
      // `import type` is erased from the build; every other import, static or dynamic, is loaded.
      const code = readFileSync(join(ROOT, 'src', file), 'utf8').replace(/^(import|export) type [^;]*;/gm, '');
      for (const [, specifier] of code.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|^import\s+)'([^'.][^']*)'/gm))
        if (!specifier!.startsWith('node:')) imported.add(specifier!.split('/').slice(0, specifier!.startsWith('@') ? 2 : 1).join('/'));
    }
    expect(imported.size).toBeGreaterThan(10);
    expect([...imported].filter((name) => !(name in dependencies))).toEqual([]);
  });

  it('exposes the port Latchkey listens on in the image', () => {
    expect(exposed).toEqual([loadConfig(properties(final, 'ENV')).port]);
  });

  it('starts bin/latchkey-server (one node process running dist/main.js) in exec form, under tini installed from the distribution', () => {
    const [entrypoint] = instructionsOf(final, 'ENTRYPOINT');
    const [cmd] = instructionsOf(final, 'CMD');
    expect(execForm(entrypoint!)).toEqual(['/usr/bin/tini', '--']);
    expect(execForm(cmd!)).toEqual(['bin/latchkey-server']);
    expect(copiedTo(final, workdir, 'bin/latchkey-server')).toMatchObject({ copy: { from: undefined }, source: 'bin/latchkey-server' });
    const script = readFileSync(join(ROOT, 'bin/latchkey-server'), 'utf8');
    expect(script).toMatch(/^#!\/bin\/sh\n/);
    expect(script).toMatch(/^exec node .*"\$\(dirname "\$0"\)\/\.\.\/dist\/main\.js"$/m);
    expect(spawnSync('git', ['ls-files', '-s', 'bin/latchkey-server'], { cwd: ROOT, encoding: 'utf8' }).stdout).toMatch(/^100755 /);
    expect(instructionsOf(final, 'RUN').map((i) => words(i).join(' '))).toContainEqual(expect.stringMatching(/apt-get install .*\btini\b/));
  });

  it('puts the command line on PATH as `latchkey`, a link to bin/latchkey.js that the final stage copies', () => {
    const onPath = [...symlinksOf(final)].filter(([link]) => posix.basename(link) === 'latchkey' && pathOf(final).includes(posix.dirname(link)));
    expect(onPath, 'a `latchkey` link in a folder of the image\'s PATH').toHaveLength(1);
    const target = posix.resolve(posix.dirname(onPath[0]![0]), onPath[0]![1]);
    const placed = copiedTo(final, workdir, target);
    expect(placed, `${target} copied into the final stage`).toMatchObject({ copy: { from: undefined }, source: 'bin/latchkey.js' });
    // Run as a program: the shebang finds node on PATH, and git keeps the file executable.
    expect(readFileSync(join(ROOT, 'bin/latchkey.js'), 'utf8')).toMatch(/^#!\/usr\/bin\/env node\n/);
    expect(statSync(join(ROOT, 'bin/latchkey.js')).mode & 0o111).toBe(0o111);
    expect(spawnSync('git', ['ls-files', '-s', 'bin/latchkey.js'], { cwd: ROOT, encoding: 'utf8' }).stdout).toMatch(/^100755 /);
  });

  it('copies every file the command line reads at run time, so that it runs the build and never needs tsx', () => {
    // What bin/latchkey.js opens beside itself (`new URL('<relative>', import.meta.url)`), and what the sources
    // read from Latchkey's folder (`rootPath('<path>')`, src/paths.ts): the bundle moves code, not those files.
    const relativeReads = (code: string) => [...code.matchAll(/new URL\(\s*'(\.\.?\/[^']*)',\s*import\.meta\.url\s*\)/g)].map((m) => m[1]!);
    const needed = new Set<string>(['bin/latchkey.js']);
    const [built, ...others] = relativeReads(readFileSync(join(ROOT, 'bin/latchkey.js'), 'utf8'));
    expect(built).toBe('../dist/cli/main.js');
    needed.add(posix.join('bin', built!));
    for (const file of readdirSync(join(ROOT, 'src'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'))) {
      const code = readFileSync(join(ROOT, 'src', file), 'utf8');
      expect(relativeReads(code), `src/${file} reads beside itself: use rootPath`).toEqual([]);
      for (const [, path] of code.matchAll(/\brootPath\(\s*'([^']+)'\s*\)/g)) needed.add(path!);
    }
    // The tsx fallback (the sources) is only for a checkout without a build; the image has no tsx.
    expect(others).toEqual(['../src/cli/main.ts']);
    expect(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).dependencies).not.toHaveProperty('tsx');
    expect([...needed]).toEqual(expect.arrayContaining(['dist/cli/main.js', 'package.json', 'drizzle', 'embedded/template.tar.gz']));
    for (const path of needed) {
      const placed = copiedTo(final, workdir, path);
      expect(placed, `${path} in the final stage`).toBeDefined();
      if (placed!.copy.from === undefined) expect(existsSync(join(ROOT, placed!.source)), placed!.source).toBe(true);
      else if (placed!.source.startsWith(`${workdir}/dist/`)) {
        // Bundled by the build stage from the entry point of the same name (scripts/build.mjs).
        const stage = stages.find((s) => s.name === placed!.copy.from)!;
        expect(instructionsOf(stage, 'RUN').map((i) => words(i).join(' '))).toContain('npm run build');
        const source = placed!.source.slice(`${workdir}/dist/`.length);
        expect(existsSync(join(ROOT, 'src', source.replace(/\.js$/, '.ts'))), source).toBe(true);
        expect(readFileSync(join(ROOT, 'scripts/build.mjs'), 'utf8')).toContain(`'${source.replace(/\.js$/, '')}': join(root, 'src/${source.replace(/\.js$/, '.ts')}')`);
      } else throw new Error(`${path} comes from ${placed!.source} in stage ${placed!.copy.from}, which this test does not check`);
    }
  });

  it('is sent only what it copies from the context: never .env, data/ or node_modules', () => {
    const rules = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').filter((l) => l.trim() && !l.startsWith('#'));
    expect(rules[0]).toBe('*');
    const included = new Set(rules.slice(1).map((r) => r.replace(/^!/, '').replace(/\/$/, '')));
    expect(rules.slice(1).every((r) => r.startsWith('!'))).toBe(true);
    const fromContext = stages.flatMap(copiesOf).filter((c) => c.from === undefined).flatMap((c) => c.sources);
    for (const source of fromContext) {
      expect(included, source).toContain(source);
      expect(existsSync(join(ROOT, source)), source).toBe(true);
    }
    for (const never of ['.env', 'data', 'node_modules', 'dist', 'deploy']) expect(included).not.toContain(never);
  });
});

/**
 * The final stage's files, laid out as the Dockerfile's COPY instructions place them: from the context,
 * from the build stage (whose `npm run build` is run here, into this folder), or the prod-deps stage's
 * node_modules (this checkout's, dev dependencies included).
 */
async function layOutImage(into: string): Promise<void> {
  for (const copy of copiesOf(final)) {
    const destination = join(into, posix.relative(workdir, posix.resolve(workdir, copy.destination)));
    const intoFolder = copy.destination.endsWith('/') || copy.sources.length > 1;
    for (const source of copy.sources) {
      const target = intoFolder ? join(destination, posix.basename(source)) : destination;
      await mkdir(dirname(target), { recursive: true });
      const stage = stages.find((s) => s.name === copy.from);
      if (!copy.from) {
        await cp(join(ROOT, source), target, { recursive: true });
      } else if (source === `${workdir}/dist` && stage && instructionsOf(stage, 'RUN').some((i) => words(i).join(' ') === 'npm run build')) {
        // This run's build of the sources, when it has one (test/global-setup.ts), is that same `npm run build`.
        const built = inject('builtSources');
        if (built) {
          await cp(join(ROOT, built), target, { recursive: true });
          continue;
        }
        const build = spawnSync('npm', ['run', 'build', '--', target, '--force'], { cwd: ROOT, encoding: 'utf8' });
        if (build.status !== 0) throw new Error(`build failed:\n${build.stdout}${build.stderr}`);
      } else if (source === `${workdir}/node_modules`) {
        await symlink(join(ROOT, 'node_modules'), target);
      } else {
        throw new Error(`this test does not know how to lay out ${source} from stage ${copy.from}`);
      }
    }
  }
}

function run(command: string[], env: Record<string, string>, cwd: string) {
  // `node` is the one on this machine; an image's PATH would find its own.
  const [program, ...args] = command;
  // A script of the image (bin/latchkey-server) runs `node` from PATH: this machine's.
  const path = [dirname(process.execPath), env.PATH ?? '/usr/bin:/bin'].join(':');
  return spawn(program === 'node' ? process.execPath : program!, args, { cwd, env: { ...env, PATH: path }, stdio: ['ignore', 'pipe', 'pipe'] });
}

function exitCode(child: ReturnType<typeof spawn>): Promise<number | null> {
  return new Promise((resolve) => child.on('exit', (code) => resolve(code)));
}

describeUnless(anyOf(NO_POSTGRES, NO_REDIS))('the latchkey service, run with the settings compose gives it', () => {
  let app: string;
  let database: TestDatabase;
  let smtp: TestSmtpServer;

  beforeAll(async () => {
    app = await mkdtemp(join(tmpdir(), 'latchkey-image-'));
    database = await createTestDatabase();
    smtp = await startSmtpServer();
    // Without a build of this run to copy, its tsc run takes 10 s of CPU, and far longer on a loaded machine.
    await layOutImage(app);
  }, 180_000);
  afterAll(async () => {
    await smtp?.close();
    await database?.drop();
    if (app) await rm(app, { recursive: true, force: true });
  });

  it('runs the command line by its name on PATH, with the service\'s settings: the first admin, a service client, a webhook', async () => {
    const env: Record<string, string> = { ...properties(final, 'ENV'), ...environmentOf(service('latchkey')), DATABASE_URL: database.url!, REDIS_URL: TEST_REDIS_URL! };
    // The image's PATH, its folders mapped into this test's; node is this machine's.
    const links = await mkdtemp(join(tmpdir(), 'latchkey-path-'));
    onTestFinished(() => rm(links, { recursive: true, force: true }));
    for (const [link, target] of symlinksOf(final)) {
      const inImage = posix.resolve(posix.dirname(link), target);
      if (inImage.startsWith(`${workdir}/`)) await symlink(join(app, posix.relative(workdir, inImage)), join(links, posix.basename(link)));
    }
    env.PATH = [links, dirname(process.execPath)].join(':');
    const latchkey = (args: string[], input = '') => {
      const result = spawnSync('latchkey', args, { cwd: app, env, input, encoding: 'utf8', timeout: 60_000 });
      expect(result.status, `latchkey ${args.join(' ')}:\n${result.stdout}${result.stderr}${result.error ?? ''}`).toBe(0);
      return result.stdout;
    };
    const email = `admin-${randomBytes(4).toString('hex')}@example.com`;
    expect(latchkey(['users', 'create', '--email', email, '--name', 'Admin', '--admin'], 'correct horse battery staple\n')).toContain(`Created admin ${email}`);
    expect(JSON.parse(latchkey(['services', 'create', 'billing', '--scopes', 'revocations:read', '--json']))).toMatchObject({ client_id: expect.any(String) });
    expect(JSON.parse(latchkey(['webhooks', 'add', 'http://127.0.0.1:8001/hooks', '--events', 'user.created', '--json']))).toMatchObject({ id: expect.any(String) });
    expect(latchkey(['users', 'list'])).toContain(email);
  }, 90_000);

  it('signs up, signs in and mails a reset link, passes its HEALTHCHECK, and stops cleanly on SIGTERM', async () => {
    // The compose variables: deploy/.env.example filled in, and Redis keys of this run's own.
    const composed = readComposeFile(COMPOSE_FILE, { ...filledIn, REDIS_KEY_PREFIX: `latchkey-test:${randomBytes(4).toString('hex')}:` });
    const port = await freePort();
    // The image's environment and the service's; the services it names become this machine's (the checks
    // above tie each URL to its service), and the port a free one, as the container's 5001 may be taken here.
    const env: Record<string, string> = { ...properties(final, 'ENV'), ...environmentOf(composed.services.latchkey!) };
    const services: Record<string, string> = { postgres: database.url!, redis: TEST_REDIS_URL!, mailpit: smtp.url };
    for (const [key, value] of Object.entries(env)) {
      const host = URL.canParse(value) ? new URL(value).hostname : '';
      if (Object.hasOwn(services, host)) env[key] = services[host]!;
    }
    env.PORT = String(port);
    for (const value of Object.values(env)) expect(value).not.toMatch(/[@/](postgres|redis|mailpit)[:/]/);

    const healthcheck = healthcheckCommand(instructionsOf(final, 'HEALTHCHECK')[0]!);
    expect(await exitCode(run(healthcheck, env, app)), 'HEALTHCHECK with no server').not.toBe(0);

    const server = run(execForm(instructionsOf(final, 'CMD')[0]!), env, app);
    let output = '';
    server.stdout!.on('data', (d) => (output += d));
    server.stderr!.on('data', (d) => (output += d));
    const exited = exitCode(server);
    let stopped = false;
    void exited.then(() => (stopped = true));
    onTestFinished(() => void (stopped || server.kill('SIGTERM')));
    const base = `http://127.0.0.1:${port}`;
    for (const deadline = Date.now() + 40_000; ; ) {
      if (stopped || Date.now() > deadline) throw new Error(`Latchkey did not become ready:\n${output}`);
      if (await fetch(`${base}/readyz`).then((r) => r.ok, () => false)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(await exitCode(run(healthcheck, env, app)), 'HEALTHCHECK').toBe(0);

    const post = (path: string, body: object, headers: Record<string, string> = {}) =>
      fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
    const email = `compose-${randomBytes(4).toString('hex')}@example.com`;
    const password = 'correct horse battery staple';
    expect((await post('/api/signup', { name: 'Compose', email, password })).status).toBe(201);
    const signin = await post('/api/signin', { email, password });
    expect(signin.status).toBe(200);
    const { access_token } = (await signin.json()) as { access_token: string };
    const dashboard = await fetch(`${base}/api/dashboard`, { headers: { authorization: `Bearer ${access_token}` } });
    expect(dashboard.status).toBe(200);
    expect((await post('/api/forgot-password', { email })).ok).toBe(true);
    const mail = await smtp.waitFor((m) => m.to.includes(email) && m.subject === 'Reset your password', 15_000);
    expect(mail.text).toContain(`${filledIn.PUBLIC_URL}/reset-password/`);

    const stopping = Date.now();
    server.kill('SIGTERM');
    expect(await exited, output).toBe(0);
    expect(Date.now() - stopping).toBeLessThan(parseDuration(composed.services.latchkey!.stop_grace_period!)! * 1000);
    expect(await exitCode(run(healthcheck, env, app)), 'HEALTHCHECK once stopped').not.toBe(0);
  }, 90_000);
});
