import { expect, it } from 'vitest';
import { describeWithAndWithoutServer, expectOneLine, json, useCliTarget } from '../helpers/cli.js';

const ADDED_LINE = /^\{"id": "(wh_[A-Za-z0-9_-]+)", "secret": "(whsec_[A-Za-z0-9+/]{43}=)"\}\n$/;

// Each launch of the command line costs seconds: one test per mode, four launches in it.
describeWithAndWithoutServer('latchkey webhooks', (withServer) => {
  const target = useCliTarget(withServer);
  const run = (args: string[]) => target.run(args);

  it('adds an endpoint printing exactly its id and secret, lists it without the secret, removes it, and refuses a bad URL', async () => {
    const added = await run(['webhooks', 'add', 'https://hooks.example.com/latchkey', '--events', 'user.created,session.revoked', '--json']);
    expect(added.code, added.stderr).toBe(0);
    const match = ADDED_LINE.exec(added.stdout);
    expect(match, added.stdout).not.toBeNull();
    expect(Object.keys(JSON.parse(added.stdout))).toEqual(['id', 'secret']);
    const [, id, secret] = match!;

    const list = await run(['webhooks', 'list', '--json']);
    const endpoints = json(list);
    expect(endpoints).toEqual([
      { id, url: 'https://hooks.example.com/latchkey', events: ['session.revoked', 'user.created'], backchannel_logout_audience: null, created_at: expect.any(String), disabled_at: null },
    ]);
    expect(list.stdout).not.toContain(secret!.slice(6));
    expect(list.stdout).not.toMatch(/whsec_|secret/);

    const removed = await run(['webhooks', 'remove', id!, '--json']);
    expect(json(removed)).toMatchObject({ id, url: 'https://hooks.example.com/latchkey' });
    expect(removed.stdout).not.toMatch(/whsec_/);

    expectOneLine(await run(['webhooks', 'add', 'ftp://hooks.example.com/x', '--events', 'user.created']), 2, /url: must be an http:\/\/ or https:\/\/ URL/);
    if (target.server) expect(target.server.output()).not.toContain(secret!.slice(6));
  }, 120_000);
});
