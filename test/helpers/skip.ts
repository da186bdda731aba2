import { describe, it, type SuiteFactory, type TestFunction, type TestOptions } from 'vitest';
import { TEST_DATABASE_URL, TEST_REDIS_URL } from './services.js';

/**
 * Groups and tests that need what a machine may lack (PostgreSQL, Redis, MySQL, Python libraries,
 * Chromium) go through `describeUnless` and `itUnless`, never `describe.skipIf`: a skipped one says why,
 * and how to run it, in its name and once in the run's output (Vitest's default reporter counts skipped
 * tests without naming them). test/unit/skips.test.ts checks that nothing else skips.
 */

/** Why a group cannot run here, or undefined when it can. */
export type SkipReason = string | undefined;

export const NO_POSTGRES: SkipReason = TEST_DATABASE_URL
  ? undefined
  : 'no TEST_DATABASE_URL: set it to a PostgreSQL URL, such as postgres://postgres@127.0.0.1:5432/postgres';
export const NO_REDIS: SkipReason = TEST_REDIS_URL ? undefined : 'no TEST_REDIS_URL: set it to a Redis URL, such as redis://127.0.0.1:6379';
export const NO_MYSQL: SkipReason = process.env.TEST_MYSQL_URL
  ? undefined
  : 'no TEST_MYSQL_URL: set it to a MySQL or MariaDB URL, such as mysql://root@127.0.0.1:3306/';
/** A group of the embedded engine alone, skipped in the PostgreSQL pass. */
export const ON_POSTGRES: SkipReason = TEST_DATABASE_URL ? 'runs on the embedded engine only: unset TEST_DATABASE_URL' : undefined;

/** Every reason given, joined; undefined when there is none. */
export const anyOf = (...reasons: SkipReason[]): SkipReason => reasons.filter(Boolean).join('; ') || undefined;

const told = new Set<string>();

function tell(kind: string, name: string, reason: string) {
  const line = `skipped ${kind} "${name}": ${reason}`;
  if (told.has(line)) return;
  told.add(line);
  console.warn(line);
}

type SuiteArgs = [fn: SuiteFactory] | [options: TestOptions, fn: SuiteFactory];
type TestArgs = [fn: TestFunction] | [options: TestOptions, fn: TestFunction] | [fn: TestFunction, timeout: number];

/** `describe(name, …)`, or, when `skip` gives a reason, a skipped group that says it in its name and in the output. */
export function describeUnless(skip: SkipReason) {
  return (name: string, ...rest: SuiteArgs) => {
    if (skip === undefined) return (describe as (name: string, ...rest: SuiteArgs) => void)(name, ...rest);
    tell('group', name, skip);
    return (describe.skip as (name: string, ...rest: SuiteArgs) => void)(`${name} (skipped: ${skip})`, ...rest);
  };
}

/** `it(name, …)`, or, when `skip` gives a reason, a skipped test that says it in its name and in the output. */
export function itUnless(skip: SkipReason) {
  return (name: string, ...rest: TestArgs) => {
    if (skip === undefined) return (it as (name: string, ...rest: TestArgs) => void)(name, ...rest);
    tell('test', name, skip);
    return (it.skip as (name: string, ...rest: TestArgs) => void)(`${name} (skipped: ${skip})`, ...rest);
  };
}
