/** How commands print: data on standard output (a table, key-value lines or JSON), never on standard error. */

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function printLine(text: string): void {
  process.stdout.write(`${text}\n`);
}

/** A note for the person at the terminal (the next page's option, say): standard error, so pipes get only data. */
export function printNote(text: string): void {
  process.stderr.write(`${text}\n`);
}

// Controls, format characters (bidi overrides and isolates, zero-width ones), line and paragraph separators:
// a terminal acts on them or they make text read otherwise than it is stored (a user's name, say).
const NON_PRINTING = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu;

/** Text as the terminal should show it: every non-printing character written as `\u{...}`. */
export const escapeForTerminal = (text: string) => text.replace(NON_PRINTING, (c) => `\\u{${c.codePointAt(0)!.toString(16)}}`);

const shown = (v: unknown) => (v === null || v === undefined ? '-' : escapeForTerminal(String(v)));

/** Columns aligned with spaces; a header in capitals. */
export function printTable<T>(rows: readonly T[], columns: [header: string, value: (row: T) => unknown][]): void {
  const cells = [columns.map(([h]) => h), ...rows.map((r) => columns.map(([, v]) => shown(v(r))))];
  const widths = columns.map((_, i) => Math.max(...cells.map((row) => row[i]!.length)));
  for (const row of cells) printLine(row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd());
}

/** `key: value` lines, keys aligned. */
export function printRecord(record: Record<string, unknown>): void {
  const width = Math.max(...Object.keys(record).map((k) => k.length));
  for (const [k, v] of Object.entries(record)) printLine(`${`${k}:`.padEnd(width + 1)} ${shown(v)}`);
}
