import { GROUPS, SETTINGS, type GroupName, type SettingInfo } from './settings.js';

// The README's configuration table and .env.example, written from the declarations in ./settings.ts.
// `npm run docs:config` rewrites both; test/config-docs.test.ts fails when either differs.

export const TABLE_START = '<!-- settings:start -->';
export const TABLE_END = '<!-- settings:end -->';

/** Settings in document order: by group, in GROUPS' order, then as declared. */
function settingsInOrder(): [string, SettingInfo][] {
  const all = Object.entries(SETTINGS) as [string, SettingInfo][];
  return (Object.keys(GROUPS) as GroupName[]).flatMap((group) => all.filter(([, s]) => s.group === group));
}

function shownDefault(s: SettingInfo): string {
  if (s.shownDefault !== undefined) return s.shownDefault;
  if (s.default === undefined) return 'unset';
  if (s.default === '') return 'empty';
  return `\`${s.default}\``;
}

/** The Markdown table (header included) that goes between the README's markers. */
export function renderTable(): string {
  const rows = settingsInOrder().map(([name, s]) => `| \`${name}\` | ${shownDefault(s)} | ${s.doc} |`);
  return ['| variable | default | meaning |', '| --- | --- | --- |', ...rows].join('\n');
}

/** `text` with what lies between the table markers replaced by the generated table. */
export function replaceTable(readme: string): string {
  const start = readme.indexOf(TABLE_START);
  const end = readme.indexOf(TABLE_END);
  if (start < 0 || end < start) throw new Error(`README.md: no ${TABLE_START} … ${TABLE_END} markers`);
  return `${readme.slice(0, start + TABLE_START.length)}\n${renderTable()}\n${readme.slice(end)}`;
}

/** Comment lines of at most `width` characters. */
function comment(text: string, width = 100): string[] {
  const lines: string[] = [];
  let line = '#';
  for (const word of text.split(/\s+/)) {
    if (line.length > 1 && line.length + 1 + word.length > width) {
      lines.push(line);
      line = '#';
    }
    line += ` ${word}`;
  }
  lines.push(line);
  return lines;
}

/** The whole of .env.example. */
export function renderEnvExample(): string {
  const out = [
    '# Copy to .env and adjust. Every variable is optional; the values shown are the defaults, and the',
    '# commented-out ones are unset or rarely changed. Written by `npm run docs:config` from',
    '# src/config/settings.ts: edit the declarations there, not this file.',
  ];
  let group: GroupName | undefined;
  for (const [name, s] of settingsInOrder()) {
    if (s.group !== group) {
      group = s.group;
      out.push('', ...comment(GROUPS[group]).map((line) => `#${line}`));
    }
    const doc = s.shownDefault === undefined ? s.doc : `${s.doc}. Default: ${s.shownDefault}.`;
    out.push(...comment(doc.replaceAll('`', '')));
    const value = s.secret ? '' : (s.default ?? s.example ?? '');
    const unset = s.secret || s.advanced || s.default === undefined;
    out.push(`${unset ? '# ' : ''}${name}=${value}`);
  }
  return `${out.join('\n')}\n`;
}
