import { beforeAll, expect, it } from 'vitest';
import { build, openings, type Recorded } from './harness';

let resources: Recorded[];

beforeAll(async () => {
  ({ resources } = await build('single', {
    'aws:region': 'eu-west-1',
    shape: 'single',
    repoUrl: 'https://git.example.com/latchkey.git',
    publicUrl: 'https://auth.example.com/',
    smtpUrl: 'smtp://smtp.example.com:587',
  }, ['smtpUrl']));
});

it('without sshCidr, port 22 stays closed to everyone', () => {
  const ssh = openings(resources).filter((o) => o.direction === 'ingress' && o.fromPort <= 22 && o.toPort >= 22);
  expect(ssh).toEqual([]);
  expect(resources.filter((r) => r.type === 'aws:ec2/keyPair:KeyPair')).toEqual([]);
});

it('takes PUBLIC_URL from the configuration when given', () => {
  const instance = resources.find((r) => r.type === 'aws:ec2/instance:Instance')!;
  expect(instance.inputs['userData']).toContain("PUBLIC_URL='https://auth.example.com'");
});
