import { randomBytes } from 'node:crypto';
import { link, mkdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { ConfigError, type Config } from './config.js';

export const SECRET_KEY_FILE = 'secret-key';

export interface SecretKey {
  readonly value: string;
  /** Where it came from, for messages: SECRET_KEY, the file's path, or memory. */
  readonly source: string;
}

/**
 * The secret that encrypts private signing keys: SECRET_KEY when set; otherwise the content of
 * DATA_DIR/secret-key, created on first start (owner-only) so that a bare `npm start` needs no setup.
 * A `memory://` DATA_DIR (tests) gets a random secret that lives as long as the process.
 */
export async function resolveSecretKey(config: Pick<Config, 'secretKey' | 'dataDir'>, logger: Logger): Promise<SecretKey> {
  if (config.secretKey !== undefined) return { value: config.secretKey, source: 'SECRET_KEY' };
  if (config.dataDir.startsWith('memory://')) return { value: randomBytes(32).toString('base64url'), source: 'memory' };

  const path = join(config.dataDir, SECRET_KEY_FILE);
  let value: string | undefined;
  try {
    value = await readSecretFile(path);
    if (value === undefined) {
      await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
      value = await createSecretFile(path);
      logger.warn({ path }, 'generated a secret key to encrypt the signing keys: back it up apart from the database, or set SECRET_KEY');
    }
  } catch (err) {
    // A read-only file system (a container with DATABASE_URL, say) is a setup question, not a crash.
    const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new ConfigError([`SECRET_KEY: unset, and ${path} cannot be read or created (${reason}); set SECRET_KEY or make DATA_DIR writable`]);
  }
  if (Buffer.byteLength(value, 'utf8') < 32)
    throw new ConfigError([`SECRET_KEY: unset, and ${path} holds fewer than 32 bytes; restore that file or set SECRET_KEY`]);
  const { mode } = await stat(path);
  if ((mode & 0o077) !== 0) logger.warn({ path, mode: (mode & 0o777).toString(8) }, 'the secret key file is readable by other users');
  return { value, source: path };
}

async function readSecretFile(path: string): Promise<string | undefined> {
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

// Written aside, then linked into place: processes starting together all end up with the one file that won.
async function createSecretFile(path: string): Promise<string> {
  const temporary = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(temporary, `${randomBytes(32).toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
  try {
    await link(temporary, path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    await unlink(temporary).catch(() => {});
  }
  return (await readFile(path, 'utf8')).trim();
}
