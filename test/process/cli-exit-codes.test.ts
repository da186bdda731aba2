import { it } from 'vitest';
import { describeWithAndWithoutServer, expectOneLine, useCliTarget } from '../helpers/cli.js';

// Every validation error exits 2 (usage), whether the command runs here or through a running server.
describeWithAndWithoutServer('a validation error', (withServer) => {
  const target = useCliTarget(withServer);

  it('exits 2: a webhook to a denied network (WEBHOOK_DENY_NETWORKS)', async () => {
    expectOneLine(await target.run(['webhooks', 'add', 'http://169.254.169.254/x', '--events', 'user.created']), 2, /webhooks are never posted there/);
  }, 120_000);
}, ['with no server running', 'through a running server']);
