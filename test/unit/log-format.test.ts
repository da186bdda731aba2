import { describe, expect, it } from 'vitest';
import { chooseLogFormat } from '../../src/logging.js';

describe('chooseLogFormat', () => {
  it('is pretty on a terminal in development when pino-pretty is installed', () => {
    expect(chooseLogFormat({ env: 'development', stdoutIsTty: true, prettyInstalled: true })).toBe('pretty');
  });

  it('stays JSON when stdout is not a terminal (a pipe, a file, a log collector)', () => {
    expect(chooseLogFormat({ env: 'development', stdoutIsTty: false, prettyInstalled: true })).toBe('json');
  });

  it('stays JSON outside development, even on a terminal', () => {
    for (const env of ['production', 'test', 'staging']) expect(chooseLogFormat({ env, stdoutIsTty: true, prettyInstalled: true }), env).toBe('json');
  });

  it('stays JSON when pino-pretty is not installed (a production install leaves dev dependencies out)', () => {
    expect(chooseLogFormat({ env: 'development', stdoutIsTty: true, prettyInstalled: false })).toBe('json');
  });
});
