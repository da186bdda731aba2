import { AppError } from '../errors.js';
import { CliError, EXIT, usageError } from './errors.js';

// Enough for the longest password accepted (256 characters of up to 4 bytes) and a line break.
const MAX_PIPED_BYTES = 2048;

/**
 * A new password, never from the command line (where `ps` and the shell's history would keep it):
 * the first line of standard input when it is piped, or typed twice at a hidden prompt on a terminal.
 */
export async function readNewPassword(stdin: NodeJS.ReadStream = process.stdin, prompt: NodeJS.WriteStream = process.stderr): Promise<string> {
  if (!stdin.isTTY) {
    const line = await readFirstLine(stdin);
    if (!line) throw usageError('no password on standard input: pipe it in (printf %s "$PASSWORD" | latchkey users create ...) or run on a terminal to be asked');
    return line;
  }
  const first = await promptHidden('Password: ', stdin, prompt);
  const again = await promptHidden('Repeat the password: ', stdin, prompt);
  if (first !== again) throw new AppError('passwords_do_not_match');
  return first;
}

/**
 * A secret that is not a password (a provider's client secret), never from the command line either: the first line
 * of standard input when it is piped, or typed once at a hidden prompt on a terminal.
 */
export async function readSecret(label: string, example: string, stdin: NodeJS.ReadStream = process.stdin, prompt: NodeJS.WriteStream = process.stderr): Promise<string> {
  const value = stdin.isTTY ? await promptHidden(`${label.charAt(0).toUpperCase()}${label.slice(1)}: `, stdin, prompt) : await readFirstLine(stdin);
  if (!value) throw usageError(`no ${label} on standard input: pipe it in (${example}) or run on a terminal to be asked`);
  return value;
}

async function readFirstLine(stdin: NodeJS.ReadStream): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stdin) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    chunks.push(buf);
    size += buf.length;
    if (size > MAX_PIPED_BYTES || buf.includes(10)) break;
  }
  const text = Buffer.concat(chunks).toString('utf8');
  const newline = text.indexOf('\n');
  if (newline === -1 && size > MAX_PIPED_BYTES) throw usageError('the password on standard input is too long');
  return (newline === -1 ? text : text.slice(0, newline)).replace(/\r$/, '');
}

function promptHidden(question: string, stdin: NodeJS.ReadStream, out: NodeJS.WriteStream): Promise<string> {
  return new Promise((resolve, reject) => {
    out.write(question);
    let value = '';
    const finish = (outcome: () => void) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      out.write('\n');
      outcome();
    };
    const onData = (chunk: Buffer | string) => {
      for (const ch of String(chunk)) {
        if (ch === '\r' || ch === '\n') return finish(() => resolve(value));
        if (ch === '\u0003') return finish(() => reject(new CliError('interrupted', EXIT.interrupted)));
        if (ch === '\u0004' && value === '') return finish(() => reject(usageError('no password given')));
        if (ch === '\u007f' || ch === '\b') value = [...value].slice(0, -1).join('');
        else if (ch >= ' ') value += ch;
      }
    };
    stdin.setRawMode(true);
    stdin.setEncoding('utf8');
    stdin.on('data', onData);
    stdin.resume();
  });
}
