import { escapeHtml } from '../../core/email-text.js';

/**
 * HTML built from tagged templates that escape by default: every value put into `html` is escaped unless it is
 * itself Html (a fragment built the same way), so a user's name or an error message can never become markup.
 * Arrays of fragments are joined; undefined, null and false put nothing.
 */
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

type Value = Html | string | number | boolean | null | undefined | readonly Value[];

const render = (value: Value): string => {
  if (value instanceof Html) return value.text;
  if (Array.isArray(value)) return value.map(render).join('');
  if (value === undefined || value === null || value === false) return '';
  return escapeHtml(String(value));
};

export function html(strings: TemplateStringsArray, ...values: Value[]): Html {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i += 1) out += render(values[i]!) + strings[i + 1]!;
  return new Html(out);
}
