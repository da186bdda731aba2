import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { build, one, openings, valueOf, WORLD, type Recorded } from './harness';

const SSH_CIDR = '203.0.113.7/32';
let resources: Recorded[];
let outputs: Record<string, unknown>;

beforeAll(async () => {
  ({ resources, outputs } = await build('single', {
    'aws:region': 'eu-west-1',
    shape: 'single',
    sshCidr: SSH_CIDR,
    sshPublicKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAITestKey user@example',
    repoUrl: 'https://git.example.com/latchkey.git',
  }));
});

describe('single: security groups', () => {
  it('lets the world in on 80 and 443 only', () => {
    const fromWorld = openings(resources).filter((o) => o.direction === 'ingress' && o.cidrs.some((c) => WORLD.includes(c)));
    expect(fromWorld.map((o) => [o.protocol, o.fromPort, o.toPort])).toEqual([
      ['tcp', 80, 80],
      ['tcp', 443, 443],
    ]);
  });

  it('opens SSH to the configured range and nothing else', () => {
    const ssh = openings(resources).filter((o) => o.direction === 'ingress' && o.fromPort <= 22 && o.toPort >= 22);
    expect(ssh).toHaveLength(1);
    expect(ssh[0]!.cidrs).toEqual([SSH_CIDR]);
    expect(ssh[0]!.peers).toEqual([]);
  });

  it('opens no other port: not PostgreSQL, pgAdmin, Redis, Latchkey or the mail sink', () => {
    const inbound = openings(resources).filter((o) => o.direction === 'ingress');
    for (const o of inbound) {
      expect(o.protocol).toBe('tcp');
      expect([22, 80, 443]).toContain(o.fromPort);
      expect(o.toPort).toBe(o.fromPort);
    }
    for (const port of [5432, 5050, 6379, 5001, 1025, 8025])
      expect(inbound.filter((o) => o.fromPort <= port && o.toPort >= port)).toEqual([]);
  });
});

describe('single: instance', () => {
  it('requires IMDSv2 and keeps the containers away from it', () => {
    const instance = one(resources, 'aws:ec2/instance:Instance');
    expect(instance.inputs['metadataOptions']).toMatchObject({ httpTokens: 'required', httpPutResponseHopLimit: 1 });
    expect(instance.inputs['metadataOptions']['httpEndpoint']).not.toBe('disabled');
  });

  it('encrypts its root volume', () => {
    const instance = one(resources, 'aws:ec2/instance:Instance');
    expect(instance.inputs['rootBlockDevice']).toMatchObject({ encrypted: true });
  });

  it('runs the compose stack from the repository, with secrets drawn on the instance', () => {
    const userData: string = one(resources, 'aws:ec2/instance:Instance').inputs['userData'];
    expect(userData).toContain("REPO_URL='https://git.example.com/latchkey.git'");
    expect(userData).toContain("COMPOSE_FILE='deploy/compose.yml'");
    expect(userData).toContain('docker compose -f');
    expect(userData).toContain('up -d');
    expect(userData).toContain("PUBLIC_URL='http://198.51.100.7'");
    for (const name of ['SECRET_KEY', 'POSTGRES_PASSWORD', 'PGADMIN_PASSWORD'])
      expect(userData).toMatch(new RegExp(`^${name}=\\$\\(openssl rand `, 'm'));
    expect(userData).toContain('umask 077');
    // Latchkey answers on port 80, the one the security group opens.
    expect(userData).toMatch(/^LATCHKEY_PORT=80$/m);
  });

  it('writes every variable the compose file requires', () => {
    const userData: string = one(resources, 'aws:ec2/instance:Instance').inputs['userData'];
    // npm test runs in deploy/pulumi, beside deploy/compose.yml.
    const compose = readFileSync(resolve(process.cwd(), '../compose.yml'), 'utf8');
    const required = [...compose.matchAll(/\$\{(\w+):\?/g)].map((m) => m[1]);
    expect(required.length).toBeGreaterThan(0);
    for (const name of new Set(required)) expect(userData).toMatch(new RegExp(`^${name}=`, 'm'));
  });

  it('uses the key pair from the configuration, and an Elastic IP', () => {
    const key = one(resources, 'aws:ec2/keyPair:KeyPair');
    expect(key.inputs['publicKey']).toMatch(/^ssh-ed25519 /);
    expect(one(resources, 'aws:ec2/instance:Instance').inputs['keyName']).toBe(key.name);
    expect(one(resources, 'aws:ec2/eipAssociation:EipAssociation').inputs['instanceId']).toBe('latchkey-id');
  });

  it('can be reached by Session Manager, with no other AWS permission', () => {
    const attachments = resources.filter((r) => r.type === 'aws:iam/rolePolicyAttachment:RolePolicyAttachment');
    expect(attachments.map((a) => a.inputs['policyArn'])).toEqual(['arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore']);
    expect(resources.filter((r) => r.type === 'aws:iam/rolePolicy:RolePolicy')).toEqual([]);
  });

  it('outputs how to connect', async () => {
    expect(await valueOf(outputs['ssh'])).toBe('ssh ubuntu@198.51.100.7');
    expect(await valueOf(outputs['publicUrl'])).toBe('http://198.51.100.7');
  });
});
