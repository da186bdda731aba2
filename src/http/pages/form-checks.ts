import { Value } from 'typebox/value';
import { EmailField, NameField } from '../../contracts/fields.js';
import { messagesOf, type PageMessages } from '../../i18n/catalogue.js';

/**
 * The checks the API's schemas make of a name and an address, for forms, which answer a field's error beside the
 * field instead of a 400: the same rules, in the page's words (English unless said: the console's).
 */

const ENGLISH = messagesOf('en').pages;

export function nameProblem(name: string, t: PageMessages = ENGLISH): string | undefined {
  if (name.length === 0) return t.checks.enterName;
  if (!Value.Check(NameField, name)) return t.checks.badName;
  return undefined;
}

export function emailProblem(email: string, t: PageMessages = ENGLISH): string | undefined {
  if (email.length === 0) return t.checks.enterEmail;
  if (!Value.Check(EmailField, email)) return t.checks.badEmail;
  return undefined;
}
