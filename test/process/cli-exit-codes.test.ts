import { describe, it } from 'vitest';
import { expectOneLine, useCliTarget } from '../helpers/cli.js';

// Every validation error exits 2 (usage), whether the command runs here or through a running server.
describe.each([
  ['with no server running', false],
  ['through a running server', true],
])('a validation error %s', (_title, withServer) => {
  const target = useCliTarget(withServer);

  it('exits 2: a webhook to a denied network (WEBHOOK_DENY_NETWORKS)', async () => {
    expectOneLine(await target.run(['webhooks', 'add', 'http://169.254.169.254/x', '--events', 'user.created']), 2, /webhooks are never posted there/);
  }, 120_000);
});
