import { spawnSync } from 'node:child_process';

/**
 * Password hashes made by the libraries the old apps used (werkzeug's generate_password_hash, Python's
 * bcrypt), run in Python: the tests check Latchkey against them, not against our own idea of the formats.
 * Debian's python3-werkzeug (2.2) and python3-bcrypt serve /usr/bin/python3; a python3 on the PATH with
 * werkzeug 3 adds its scrypt default.
 */
/** werkzeug's generate_password_hash(password, method) of werkzeug 3 (or 2), or bcrypt.hashpw with gensalt(rounds, prefix). */
export type HashSpec = { kind: 'werkzeug'; method?: string; werkzeug?: 2 | 3 } | { kind: 'bcrypt'; rounds: number; prefix?: '2a' | '2b' };
export type HashRequest = HashSpec & { password: string };

export interface MadeHash {
  password: string;
  hash: string;
  /** "werkzeug 3.1.8" or "bcrypt 3.2.2". */
  library: string;
}

interface Python {
  exe: string;
  werkzeug?: string;
  bcrypt?: string;
}

const PROBE = `
import json, importlib.metadata as m
out = {}
for name in ("werkzeug", "bcrypt"):
    try:
        __import__(name)
        out[name] = m.version(name)
    except Exception:
        pass
print(json.dumps(out))
`;

const MAKE = `
import json, sys
out = []
for r in json.load(sys.stdin):
    if r["kind"] == "werkzeug":
        import werkzeug.security as ws
        args = [r["method"]] if r.get("method") else []
        out.append(ws.generate_password_hash(r["password"], *args))
    elif r["kind"] == "bcrypt":
        import bcrypt
        salt = bcrypt.gensalt(r["rounds"], prefix=r.get("prefix", "2b").encode())
        out.append(bcrypt.hashpw(r["password"].encode(), salt).decode())
    elif r["kind"] == "bcrypt-check":
        import bcrypt
        out.append(bcrypt.checkpw(r["password"].encode(), r["hash"].encode()))
    elif r["kind"] == "werkzeug-check":
        import werkzeug.security as ws
        out.append(ws.check_password_hash(r["hash"], r["password"]))
print(json.dumps(out))
`;

let found: Python[] | undefined;

function pythons(): Python[] {
  if (found) return found;
  const candidates = [process.env.TEST_PYTHON, 'python3', '/usr/bin/python3'].filter((c): c is string => !!c);
  found = [];
  for (const exe of new Set(candidates)) {
    const run = spawnSync(exe, ['-c', PROBE], { encoding: 'utf8', timeout: 20_000 });
    if (run.status !== 0) continue;
    const versions = JSON.parse(run.stdout) as { werkzeug?: string; bcrypt?: string };
    found.push({ exe, ...versions });
  }
  return found;
}

const major = (version: string | undefined) => Number(version?.split('.')[0] ?? 0);

function pythonFor(request: HashRequest | { kind: 'bcrypt-check' | 'werkzeug-check' }): Python | undefined {
  const all = pythons();
  if (request.kind === 'bcrypt' || request.kind === 'bcrypt-check') return all.find((p) => p.bcrypt);
  const wanted = request.kind === 'werkzeug' ? request.werkzeug : undefined;
  // scrypt came with werkzeug 2.3.
  const needsScrypt = request.kind === 'werkzeug' && (request.method ?? 'scrypt').startsWith('scrypt') && wanted !== 2;
  return all
    .filter((p) => p.werkzeug && (wanted === undefined || major(p.werkzeug) === wanted) && (!needsScrypt || major(p.werkzeug) >= 3))
    .sort((a, b) => major(b.werkzeug) - major(a.werkzeug))[0];
}

/**
 * Why the real libraries cannot be run here, and how to install them; undefined when they can (werkzeug 3
 * and bcrypt at least, in python3 on the PATH, /usr/bin/python3 or TEST_PYTHON).
 */
export function missingPythonLibraries(): string | undefined {
  const missing = [
    pythonFor({ kind: 'werkzeug', password: '' }) ? undefined : hasWerkzeug(2) ? 'werkzeug 3 (only werkzeug 2 is installed)' : 'werkzeug 3',
    pythonFor({ kind: 'bcrypt', password: '', rounds: 4 }) ? undefined : 'bcrypt',
  ].filter(Boolean);
  if (missing.length === 0) return undefined;
  return (
    `no python3 with ${missing.join(' and ')}: on Debian, apt-get install python3-werkzeug python3-bcrypt ` +
    `(Debian 13; Debian 12's werkzeug is 2.2), or pip install 'werkzeug>=3' bcrypt`
  );
}

export function hasWerkzeug(version: 2 | 3): boolean {
  return pythons().some((p) => major(p.werkzeug) === version);
}

function run<T>(python: Python, requests: object[]): T[] {
  const result = spawnSync(python.exe, ['-c', MAKE], { input: JSON.stringify(requests), encoding: 'utf8', timeout: 120_000 });
  if (result.status !== 0) throw new Error(`${python.exe} failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as T[];
}

/** Makes every hash asked for, one Python process per interpreter; throws when a library is missing. */
export function makeHashes(requests: HashRequest[]): MadeHash[] {
  const byPython = new Map<Python, number[]>();
  requests.forEach((request, i) => {
    const python = pythonFor(request);
    if (!python) throw new Error(`no Python can make ${JSON.stringify({ ...request, password: undefined })}: ${missingPythonLibraries() ?? 'werkzeug 2 is not installed'}`);
    byPython.set(python, [...(byPython.get(python) ?? []), i]);
  });
  const made: MadeHash[] = [];
  for (const [python, indexes] of byPython) {
    const hashes = run<string>(python, indexes.map((i) => requests[i]!));
    indexes.forEach((i, k) => {
      const request = requests[i]!;
      const library = request.kind === 'werkzeug' ? `werkzeug ${python.werkzeug}` : `bcrypt ${python.bcrypt}`;
      made[i] = { password: request.password, hash: hashes[k]!, library };
    });
  }
  return made;
}

/** What the real library itself answers for a password and a hash. */
export function pythonChecks(kind: 'bcrypt-check' | 'werkzeug-check', pairs: { password: string; hash: string }[]): boolean[] {
  const python = pythonFor({ kind });
  if (!python) throw new Error(missingPythonLibraries());
  return run<boolean>(python, pairs.map((p) => ({ kind, ...p })));
}
