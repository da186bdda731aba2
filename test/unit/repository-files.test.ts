import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = new URL('../..', import.meta.url).pathname;
const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');

describe('the files a newcomer looks for at the root', () => {
  it('LICENSE: the MIT licence package.json names, held by the Latchkey authors', () => {
    expect((JSON.parse(read('package.json')) as { license: string }).license).toBe('MIT');
    expect(read('LICENSE')).toMatch(/^MIT License\n\nCopyright \(c\) \d{4} The Latchkey authors\n\nPermission is hereby granted, free of charge/);
  });

  it('SECURITY.md: how to report privately, which versions are supported, what Latchkey promises', () => {
    const text = read('SECURITY.md');
    for (const heading of ['## Reporting a vulnerability', '## Supported versions', '## What Latchkey promises']) expect(text).toContain(heading);
    expect(text).toMatch(/privately/i);
  });

  it('CHANGELOG.md: Keep a Changelog, with an Unreleased section', () => {
    const text = read('CHANGELOG.md');
    expect(text).toContain('keepachangelog.com');
    expect(text).toMatch(/^## \[Unreleased\]$/m);
    expect(text).toMatch(/^### Added$/m);
  });
});
