import { afterEach, describe, expect, it, vi } from 'vitest';
import { printRecord, printTable } from '../../src/cli/output.js';

/** What the command line wrote to standard output while `print` ran. */
function captured(print: () => void): string {
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  try {
    print();
  } finally {
    spy.mockRestore();
  }
  return out;
}

afterEach(() => vi.restoreAllMocks());

describe('the command line prints names escaped', () => {
  // Names stored before they were refused, or arriving from an import: the terminal must not act on them.
  const names = ['Bob\u202eevil', 'Eve\u001b[2J', 'Line\u0085Break', 'Ann\u2066x\u2069', 'Zero\u200bwidth'];

  it('shows every non-printing character as \\u{...}, in tables and in records', () => {
    const table = captured(() => printTable(names.map((name) => ({ name })), [['NAME', (u) => u.name]]));
    const record = captured(() => printRecord({ name: names[0] }));
    for (const out of [table, record]) {
      // eslint-disable-next-line no-control-regex -- control characters are what must not be printed
      expect(out.replace(/\n/g, '')).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069]/u);
    }
    expect(table).toContain('Bob\\u{202e}evil');
    expect(table).toContain('Eve\\u{1b}[2J');
    expect(table).toContain('Line\\u{85}Break');
    expect(table).toContain('Ann\\u{2066}x\\u{2069}');
    expect(table).toContain('Zero\\u{200b}width');
    expect(record).toContain('Bob\\u{202e}evil');
    // Plain text, accents and other scripts are printed as they are.
    expect(captured(() => printTable([{ name: 'Zoë Ωmega 山田' }], [['NAME', (u) => u.name]]))).toContain('Zoë Ωmega 山田');
  });
});
