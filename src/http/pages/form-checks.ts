import { Value } from 'typebox/value';
import { EmailField, NameField } from '../../contracts/fields.js';

/**
 * The checks the API's schemas make of a name and an address, for forms, which answer a field's error beside the
 * field instead of a 400: the same rules, in words.
 */

export function nameProblem(name: string): string | undefined {
  if (name.length === 0) return 'Enter your name.';
  if (!Value.Check(NameField, name)) return 'Enter a name of at most 100 characters, without control characters.';
  return undefined;
}

export function emailProblem(email: string): string | undefined {
  if (email.length === 0) return 'Enter your email address.';
  if (!Value.Check(EmailField, email)) return 'Enter an email address such as name@example.com.';
  return undefined;
}
