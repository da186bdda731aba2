import { execFile } from 'node:child_process';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The layer rules of `npm run lint` (.dependency-cruiser.cjs), run on small trees made to break them.
const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../..');
const depcruise = join(root, 'node_modules', '.bin', 'depcruise');
const config = join(root, '.dependency-cruiser.cjs');

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'latchkey-layers-'));
  await writeFile(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext' } }));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function cruise(files: Record<string, string>): Promise<{ ok: boolean; output: string }> {
  const tree = await mkdtemp(join(dir, 'tree-'));
  for (const [path, text] of Object.entries(files)) {
    await mkdir(join(tree, path, '..'), { recursive: true });
    await writeFile(join(tree, path), text);
  }
  await writeFile(join(tree, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext' } }));
  try {
    const { stdout } = await run(depcruise, ['src', '--config', config, '--output-type', 'err'], { cwd: tree });
    return { ok: true, output: stdout };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    return { ok: false, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

describe('the layer rules of npm run lint', () => {
  it('pass the project as it is', async () => {
    const { stdout } = await run(depcruise, ['src', '--config', config, '--output-type', 'err'], { cwd: root });
    expect(stdout).toContain('no dependency violations found');
  });

  it('pass a concept that imports the shared floor and another concept', async () => {
    const result = await cruise({
      'src/core/hash.ts': 'export const hash = (s: string) => s;\n',
      'src/auth/users/users.ts': "import { hash } from '../../core/hash.js';\nexport const user = hash('u');\n",
      'src/auth/sessions/sessions.ts': "import { user } from '../users/users.js';\nexport const session = user;\n",
    });
    expect(result.output).toContain('no dependency violations found');
    expect(result.ok).toBe(true);
  });

  it('fail on a type-only import that points up, from the shared floor into a concept', async () => {
    const result = await cruise({
      'src/auth/users/users.ts': 'export interface User { id: string }\n',
      'src/core/audit.ts': "import type { User } from '../auth/users/users.js';\nexport const id = (u: User) => u.id;\n",
    });
    expect(result.ok).toBe(false);
    expect(result.output).toContain('core-below-domain: src/core/audit.ts → src/auth/users/users.ts');
  });

  it('fail on a domain module that imports the composition root', async () => {
    const result = await cruise({
      'src/deps.ts': 'export interface Deps { db: unknown }\n',
      'src/auth/users/users.ts': "import type { Deps } from '../../deps.js';\nexport const f = (d: Deps) => d.db;\n",
    });
    expect(result.ok).toBe(false);
    expect(result.output).toContain('domain-imports-down-only: src/auth/users/users.ts → src/deps.ts');
  });

  it('fail on a channel that reaches back into the domain, and on HTTP code in the domain', async () => {
    const result = await cruise({
      'src/auth/reset/reset-mail.ts': "import { route } from '../../http/routes/x.js';\nexport const send = () => route;\n",
      'src/http/routes/x.ts': 'export const route = 1;\n',
      'src/mail/mail-channel.ts': "import { send } from '../auth/reset/reset-mail.js';\nexport const h = send;\n",
    });
    expect(result.ok).toBe(false);
    expect(result.output).toContain('channels-never-reach-into-domain: src/mail/mail-channel.ts → src/auth/reset/reset-mail.ts');
    expect(result.output).toContain('domain-imports-down-only: src/auth/reset/reset-mail.ts → src/http/routes/x.ts');
  });

  it('fail on SQL outside the query layer: the schema imported by a concept', async () => {
    const result = await cruise({
      'src/db/schema.ts': 'export const users = {};\n',
      'src/db/queries/users.ts': "import { users } from '../schema.js';\nexport const selectUsers = () => users;\n",
      'src/auth/users/users.ts': "import { users } from '../../db/schema.js';\nimport { selectUsers } from '../../db/queries/users.js';\nexport const all = [users, selectUsers];\n",
    });
    expect(result.ok).toBe(false);
    expect(result.output).toContain('only-the-db-layer-speaks-sql: src/auth/users/users.ts → src/db/schema.ts');
    expect(result.output).not.toContain('src/db/queries/users.ts →');
  });

  it('fail on an import circle between two concepts, type-only included', async () => {
    const result = await cruise({
      'src/auth/users/users.ts': "import type { S } from '../sessions/sessions.js';\nexport interface U { s?: S }\n",
      'src/auth/sessions/sessions.ts': "import type { U } from '../users/users.js';\nexport interface S { u?: U }\n",
    });
    expect(result.ok).toBe(false);
    expect(result.output).toContain('no-circular');
  });
});
