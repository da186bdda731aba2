import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { startProgress } from '../../src/cli/progress.js';

function sink(isTTY: boolean) {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      chunks.push(String(chunk));
      done();
    },
  }) as unknown as NodeJS.WriteStream;
  Object.assign(stream, { isTTY, columns: 80 });
  return { stream, text: () => chunks.join('') };
}

describe('the progress helper', () => {
  it('writes a plain line at each tenth and at the end when not on a terminal', () => {
    const out = sink(false);
    const progress = startProgress({ label: 'users', total: 100, stream: out.stream });
    for (let i = 0; i < 100; i++) progress.increment();
    progress.stop();
    progress.stop();
    const lines = out.text().trimEnd().split('\n');
    expect(lines[0]).toBe('users 10/100');
    expect(lines).toHaveLength(10);
    expect(lines.at(-1)).toBe('users 100/100');
    expect(out.text()).not.toContain('\u001b');
  });

  it('draws a bar on a terminal', () => {
    const out = sink(true);
    const progress = startProgress({ label: 'users', total: 4, stream: out.stream });
    progress.increment(4);
    progress.stop();
    expect(out.text()).toContain('4/4');
  });
});

describe('the progress helper with no known total (a database import)', () => {
  it('shows the count alone, never "users 2/0"', () => {
    const out = sink(false);
    const progress = startProgress({ label: 'users', total: 0, stream: out.stream });
    progress.increment(2);
    progress.stop();
    expect(out.text()).toBe('users 2\n');
  });

  it('on a terminal, shows the count without a bar or a total', () => {
    const out = sink(true);
    const progress = startProgress({ label: 'users', total: 0, stream: out.stream });
    progress.increment(2);
    progress.stop();
    expect(out.text()).toContain('users 2');
    expect(out.text()).not.toMatch(/\/0|NaN|Infinity/);
  });
});
