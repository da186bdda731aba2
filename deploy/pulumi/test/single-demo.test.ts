import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import * as pulumi from '@pulumi/pulumi';
import { build, one, valueOf, type Recorded } from './harness';

// `demo: true`: the stack as it was before TLS and SMTP, plain HTTP on the Elastic IP and every mail to Mailpit, said loudly.
let resources: Recorded[];
let outputs: Record<string, unknown>;
const warn = vi.spyOn(pulumi.log, 'warn');

beforeAll(async () => {
  ({ resources, outputs } = await build('single', {
    'aws:region': 'eu-west-1',
    shape: 'single',
    repoUrl: 'https://git.example.com/latchkey.git',
    demo: 'true',
  }));
});
afterAll(() => warn.mockRestore());

it('serves plain HTTP on port 80 at the Elastic IP, without Caddy', () => {
  const userData: string = one(resources, 'aws:ec2/instance:Instance').inputs['userData'];
  expect(userData).toContain("PUBLIC_URL='http://198.51.100.7'");
  expect(userData).toMatch(/^LATCHKEY_PORT=80$/m);
  expect(userData).not.toMatch(/caddy/i);
});

it('sends mail to the Mailpit sink: no SMTP URL, no parameter, no permission to read one', () => {
  const userData: string = one(resources, 'aws:ec2/instance:Instance').inputs['userData'];
  expect(userData).not.toContain('SMTP_URL');
  expect(resources.filter((r) => r.type === 'aws:ssm/parameter:Parameter')).toEqual([]);
  expect(resources.filter((r) => r.type === 'aws:iam/rolePolicy:RolePolicy')).toEqual([]);
});

it('says loudly that it is a demo, in the preview and in its outputs', async () => {
  const said = warn.mock.calls.map((c) => String(c[0])).join('\n');
  expect(said).toMatch(/DEMO/);
  expect(said).toMatch(/plain HTTP/);
  expect(said).toMatch(/Mailpit/);
  expect(await valueOf(outputs['warning'])).toMatch(/^DEMO: .*plain HTTP.*Mailpit/);
});
