import { GROUPS, SETTINGS, type GroupName, type SettingInfo } from './settings.js';

// The configuration table of docs/configuration.md and .env.example, written from the declarations in
// ./settings.ts. `npm run docs` (or `docs:config`) rewrites both; test/config-docs.test.ts fails when either differs.

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

/** The Markdown table (header included) that goes between the markers of docs/configuration.md. */
export function renderTable(): string {
  const rows = settingsInOrder().map(([name, s]) => `| \`${name}\` | ${shownDefault(s)} | ${s.doc} |`);
  return ['| variable | default | meaning |', '| --- | --- | --- |', ...rows].join('\n');
}

/**
 * `text` with what lies between the `start` and `end` markers replaced by `body`; `file` names the document
 * in the error thrown when the markers are missing.
 */
export function replaceBetween(text: string, markers: { start: string; end: string }, body: string, file: string): string {
  const start = text.indexOf(markers.start);
  const end = text.indexOf(markers.end);
  if (start < 0 || end < start) throw new Error(`${file}: no ${markers.start} … ${markers.end} markers`);
  return `${text.slice(0, start + markers.start.length)}\n${body}\n${text.slice(end)}`;
}

/** What lies between the `start` and `end` markers of `text`, trimmed; undefined when they are missing. */
export function textBetween(text: string, markers: { start: string; end: string }): string | undefined {
  const start = text.indexOf(markers.start);
  const end = text.indexOf(markers.end);
  return start < 0 || end < start ? undefined : text.slice(start + markers.start.length, end).trim();
}

/** `doc` (docs/configuration.md) with the generated table between its markers. */
export function replaceTable(doc: string): string {
  return replaceBetween(doc, { start: TABLE_START, end: TABLE_END }, renderTable(), 'docs/configuration.md');
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
    '# commented-out ones are unset or rarely changed. docs/configuration.md explains each one in a table.',
    '# Written by `npm run docs` from src/config/settings.ts: edit the declarations there, not this file.',
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
