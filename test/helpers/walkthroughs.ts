import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readlink, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, posix, relative, resolve } from 'node:path';

// The walk-throughs of the documentation as a reader runs them: the shell blocks marked
// `<!-- walkthrough: <name> [options] -->`, read from the Markdown itself, in the order the README links
// their pages, run with bash in a copy of the repository. Options of a marker:
//   background ready=<url>   a block the reader starts in a second terminal; it is ready when <url> answers 2xx
//   needs=VAR[,VAR]          variables the reader sets before the block (the page says how)
//   requires=<what>          something the machine may lack (debian-python: python3 with the example's packages)

export interface Walkthrough {
  /** The page, relative to the repository's root. */
  doc: string;
  name: string;
  /** The line of its marker. */
  line: number;
  /** The block exactly as the page shows it. */
  script: string;
  background?: { ready: string };
  needs: string[];
  requires: string[];
  /** The answers the block's comments say it prints (`# {…}` lines; `…` stands for anything). */
  printed: string[];
}

const MARKER = /^<!--\s*walkthrough:\s*(\S+)((?:\s+\S+)*?)\s*-->\s*$/;

/** The marked blocks of one page, in their order. */
export function walkthroughsOf(root: string, doc: string): Walkthrough[] {
  const lines = readFileSync(join(root, doc), 'utf8').split('\n');
  const found: Walkthrough[] = [];
  lines.forEach((text, i) => {
    const marker = MARKER.exec(text);
    if (!marker) return;
    let open = i + 1;
    while (lines[open]?.trim() === '') open++;
    if (!/^```(sh|bash)\s*$/.test(lines[open] ?? '')) throw new Error(`${doc}:${i + 1}: a walkthrough marker must come right before a sh block`);
    const close = lines.findIndex((l, j) => j > open && /^```\s*$/.test(l));
    if (close < 0) throw new Error(`${doc}:${open + 1}: the block never closes`);
    const options = marker[2]!.trim().split(/\s+/).filter(Boolean);
    const option = (key: string) => options.find((o) => o.startsWith(`${key}=`))?.slice(key.length + 1);
    const script = lines.slice(open + 1, close).join('\n') + '\n';
    const ready = option('ready');
    if (options.includes('background') !== Boolean(ready)) throw new Error(`${doc}:${i + 1}: a background block names its ready=<url>, and only it`);
    found.push({
      doc,
      name: marker[1]!,
      line: i + 1,
      script,
      background: ready ? { ready } : undefined,
      needs: option('needs')?.split(',') ?? [],
      requires: option('requires')?.split(',') ?? [],
      printed: script.split('\n').flatMap((l) => /^\s*# (\{.*\})\s*$/.exec(l)?.[1] ?? []),
    });
  });
  return found;
}

/** README.md, then each Markdown page of the repository in the order the README first links it. */
export function pagesInReadmeOrder(root: string): string[] {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const pages = ['README.md'];
  for (const m of readme.matchAll(/\]\(([^)#\s]+\.md)(?:#[^)]*)?\)/g)) {
    const page = posix.normalize(m[1]!);
    if (!/^[a-z]+:/i.test(page) && !pages.includes(page) && existsSync(join(root, page))) pages.push(page);
  }
  return pages;
}

/** Every Markdown page a reader may copy a walk-through from, linked from the README or not. */
export function allPages(root: string): string[] {
  const inFolder = (folder: string) => (existsSync(join(root, folder)) ? readdirSync(join(root, folder)).map((n) => `${folder}/${n}`) : []);
  return [
    ...readdirSync(root).filter((n) => n.endsWith('.md')),
    ...inFolder('docs').filter((p) => p.endsWith('.md')),
    ...[...inFolder('examples'), ...inFolder('packages'), 'deploy/pulumi', 'bench/results'].map((d) => `${d}/README.md`),
  ].filter((p) => existsSync(join(root, p)));
}

/** What a walk-through's pattern matches: the text itself, with `…` standing for anything on the line. */
export function printedPattern(printed: string): RegExp {
  const parts = printed.split('…').map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${parts.join('.*?')}$`);
}

/** The documented answers that `output` lacks, in order: each must be a line of it, after the previous one. */
export function missingPrinted(output: string, printed: string[]): string[] {
  const lines = output.split('\n').map((l) => l.trimEnd());
  let at = 0;
  const missing: string[] = [];
  for (const expected of printed) {
    const pattern = printedPattern(expected);
    const found = lines.findIndex((l, i) => i >= at && pattern.test(l));
    if (found < 0) missing.push(expected);
    else at = found + 1;
  }
  return missing;
}

/**
 * A copy of the repository as a fresh clone has it (its tracked files and the new ones git does not
 * ignore: no data/, .env, dist/), with the installed packages linked from this checkout's node_modules,
 * its own workspace packages (@latchkey/…) pointing into the copy.
 */
export async function copyOfRepository(root: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'latchkey-walkthroughs-'));
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: root }).toString().split('\0');
  for (const file of files.filter((f) => f && existsSync(join(root, f)))) {
    await mkdir(dirname(join(dir, file)), { recursive: true });
    await copyFile(join(root, file), join(dir, file));
  }
  const modules = join(root, 'node_modules');
  await mkdir(join(dir, 'node_modules', '@latchkey'), { recursive: true });
  for (const entry of readdirSync(modules).filter((e) => e !== '@latchkey')) await symlink(join(modules, entry), join(dir, 'node_modules', entry));
  for (const pkg of readdirSync(join(modules, '@latchkey'))) {
    const target = resolve(join(modules, '@latchkey'), await readlink(join(modules, '@latchkey', pkg)));
    await symlink(join(dir, relative(root, target)), join(dir, 'node_modules', '@latchkey', pkg));
  }
  return dir;
}

export interface Run {
  /** 0, or the exit code of the shell that stopped at a failed step. */
  code: number | null;
  /** What the block printed, standard output and error together, in order. */
  output: string;
}

/**
 * The reader's first terminal: one `bash --norc -euo pipefail` that every block is pasted into in turn,
 * so that variables and functions of a block stay for the next, and a failed step ends it.
 */
export class Terminal {
  private readonly child: ChildProcess;
  private output = '';
  private readonly exited: Promise<number | null>;
  private count = 0;

  constructor(
    private readonly cwd: string,
    env: Record<string, string>,
  ) {
    this.child = spawn('bash', ['--norc', '-euo', 'pipefail'], { cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (d) => (this.output += d));
    this.child.stderr!.on('data', (d) => (this.output += d));
    this.exited = new Promise((r) => this.child.on('exit', (code) => r(code)));
  }

  /** Runs a block after setting `vars` (as the reader types them); no keyboard input reaches it. */
  async run(script: string, vars: Record<string, string> = {}, timeoutMs = 300_000): Promise<Run> {
    const n = ++this.count;
    const file = join(this.cwd, `.walkthrough-block-${n}.sh`);
    await writeFile(file, script);
    const done = `@@walkthrough block ${n} done@@`;
    const start = this.output.length;
    const assignments = Object.entries(vars).map(([k, v]) => `${k}='${v.replace(/'/g, `'\\''`)}'\n`).join('');
    this.child.stdin!.write(`${assignments}source '${file}' </dev/null 2>&1\nprintf '%s\\n' '${done}'\n`);
    const deadline = Date.now() + timeoutMs;
    let code: number | null | undefined;
    void this.exited.then((c) => (code = c));
    while (!this.output.includes(done, start) && code === undefined) {
      if (Date.now() > deadline) return { code: -1, output: `${this.output.slice(start)}\n(still running after ${timeoutMs} ms)` };
      await new Promise((r) => setTimeout(r, 50));
    }
    if (code !== undefined) return { code, output: this.output.slice(start) };
    return { code: 0, output: this.output.slice(start, this.output.indexOf(done, start)) };
  }

  async close(): Promise<void> {
    this.child.stdin!.end();
    if (this.child.exitCode === null) await this.exited;
  }
}

/** A block the reader runs in a second terminal: a shell of its own, with its own process group. */
export class Background {
  private readonly child: ChildProcess;
  private out = '';
  private readonly exited: Promise<number | null>;
  private code: number | null | undefined;

  constructor(cwd: string, env: Record<string, string>, script: string) {
    this.child = spawn('bash', ['--norc', '-euo', 'pipefail', '-c', script], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    this.child.stdout!.on('data', (d) => (this.out += d));
    this.child.stderr!.on('data', (d) => (this.out += d));
    this.exited = new Promise((r) => this.child.on('exit', (code) => r(code)));
    void this.exited.then((c) => (this.code = c));
  }

  output(): string {
    return this.out;
  }

  /** Resolves once `url` answers 2xx; rejects with what it printed if it stops first or the time runs out. */
  async ready(url: string, timeoutMs = 240_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.code === undefined && Date.now() < deadline) {
      try {
        if ((await fetch(url)).ok) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`${url} never answered (${this.code === undefined ? 'still running' : `exit ${this.code}`}):\n${this.out}`);
  }

  /** Ends its whole process group (the shell, npm and the server it started): Ctrl-C in that terminal. */
  async stop(): Promise<void> {
    const group = -this.child.pid!;
    const alive = () => {
      try {
        process.kill(group, 0);
        return true;
      } catch {
        return false;
      }
    };
    if (!alive()) return;
    process.kill(group, 'SIGINT');
    // The shell may be gone before the server it started: wait for the whole group.
    for (let i = 0; alive() && i < 200; i++) await new Promise((r) => setTimeout(r, 50));
    if (alive()) process.kill(group, 'SIGKILL');
  }
}
