import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { rootPath } from '../paths.js';

// A new embedded database starts as a copy of one made in advance, shipped in embedded/: PGlite's own
// initdb runs a second PostgreSQL and an initdb program beside this process's and peaks at 650-700 MB,
// where a copy never rises above what an open database holds, in a tenth of the time.

/** The new, empty cluster every new embedded database starts from (`npm run db:template` makes it). */
export const EMBEDDED_TEMPLATE = rootPath('embedded/template.tar.gz');

/**
 * PostgreSQL's defaults size shared memory for a server of 100 connections. In PGlite that memory is
 * WebAssembly heap, zeroed hence resident from the start (128 MB of buffers alone), and never given back;
 * one connection needs far less, and the operating system's file cache still holds the tables. Given at
 * every start, and recorded in the template's postgresql.conf when it is made.
 */
export const PGLITE_SETTINGS = ['-c', 'shared_buffers=16MB', '-c', 'max_connections=4'];

// PGlite takes a folder holding PG_VERSION for a whole database: it is written last, so that a start cut
// short during the copy leaves a folder the next start copies again. COPYING says a copy is under way: a
// folder with a cluster's control file, no PG_VERSION and no COPYING is a database that lost its
// PG_VERSION, and is never written over.
const VERSION = 'PG_VERSION';
const COPYING = '.template-copy';
const entryName = (path: string) => path.replace(/^\/+/, '');

export class DamagedDataDirError extends Error {
  constructor(readonly dataDir: string) {
    super(`the data folder ${dataDir} holds a database without its PG_VERSION file: restore it from a backup, or move it away to start a new one`);
    this.name = 'DamagedDataDirError';
  }
}

/** Whether `dataDir` holds no database yet (PGlite's PG_VERSION), so that it starts as a copy of the template. */
export const isNewDataDir = (dataDir: string) => !existsSync(join(dataDir, VERSION));

/** Copies the template into `dataDir` (which exists, is owner-only and new), files 600 and folders 700. */
export async function extractTemplate(dataDir: string): Promise<void> {
  if (existsSync(join(dataDir, 'global', 'pg_control')) && !existsSync(join(dataDir, COPYING))) throw new DamagedDataDirError(dataDir);
  await writeFile(join(dataDir, COPYING), '', { mode: 0o600 });
  const { x } = await import('tar');
  const options = { file: EMBEDDED_TEMPLATE, cwd: dataDir, fmode: 0o600, dmode: 0o700 };
  await x({ ...options, filter: (path) => entryName(path) !== VERSION });
  await x({ ...options, filter: (path) => entryName(path) === VERSION });
  await rm(join(dataDir, COPYING));
}

/** The template as PGlite's `loadDataDir` takes it, for a database in memory. */
export async function templateImage(): Promise<Blob> {
  return new Blob([await readFile(EMBEDDED_TEMPLATE)]);
}

/** A new cluster made by PGlite's initdb, dumped: the template's source (scripts/embedded-template.ts). */
export async function makeTemplate(): Promise<Blob> {
  const { PGlite } = await import('@electric-sql/pglite');
  const client = await PGlite.create('memory://', { startParams: [...PGlite.defaultStartParams, ...PGLITE_SETTINGS], initDbStartParams: PGLITE_SETTINGS });
  try {
    return await client.dumpDataDir('gzip');
  } finally {
    await client.close();
  }
}
