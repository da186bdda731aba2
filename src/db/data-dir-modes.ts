import { chmod, lstat, mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';

// The embedded folder holds every email, password hash and (unless SECRET_KEY is set) the secret key:
// owner-only, folders 700 and everything else 600. PGlite writes its files mode 666 whatever the umask.
const FOLDER_MODE = 0o700;
const FILE_MODE = 0o600;

const gone = (err: unknown) => (err as NodeJS.ErrnoException).code === 'ENOENT';

/**
 * Sets every folder under `dir` (itself included) to 700 and every other entry to 600; symbolic links are
 * left alone. Returns how many entries it changed. Entries that vanish meanwhile (the engine at work) are skipped.
 */
export async function tightenDataDir(dir: string): Promise<number> {
  let changed = 0;
  const walk = async (path: string): Promise<void> => {
    try {
      const stats = await lstat(path);
      if (stats.isSymbolicLink()) return;
      const wanted = stats.isDirectory() ? FOLDER_MODE : FILE_MODE;
      if ((stats.mode & 0o777) !== wanted) {
        await chmod(path, wanted);
        changed++;
      }
      if (stats.isDirectory()) for (const entry of await readdir(path)) await walk(join(path, entry));
    } catch (err) {
      if (!gone(err)) throw err;
    }
  };
  await walk(dir);
  return changed;
}

/**
 * Creates the embedded data folder owner-only, or tightens an existing one to owner-only, saying in one
 * log line how many entries were open to other users. Nothing for a `memory://` folder.
 */
export async function secureDataDir(dataDir: string, logger: { warn(details: object, message: string): void }): Promise<void> {
  if (dataDir.startsWith('memory://')) return;
  await mkdir(dataDir, { recursive: true, mode: FOLDER_MODE });
  const tightened = await tightenDataDir(dataDir);
  if (tightened > 0) {
    logger.warn({ dataDir, tightened }, `tightened the data folder to owner-only (folders 700, files 600): ${tightened} files and folders were open to other users`);
  }
}
