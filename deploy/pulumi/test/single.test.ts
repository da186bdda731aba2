import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { build, one, openings, valueOf, WORLD, type Recorded } from './harness';

const SSH_CIDR = '203.0.113.7/32';
const SMTP_URL = 'smtps://mailer:MAILPASSWORD@smtp.example.com:465';
let resources: Recorded[];
let outputs: Record<string, unknown>;

beforeAll(async () => {
  ({ resources, outputs } = await build('single', {
    'aws:region': 'eu-west-1',
    shape: 'single',
    sshCidr: SSH_CIDR,
    sshPublicKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAITestKey user@example',
    repoUrl: 'https://git.example.com/latchkey.git',
    publicUrl: 'https://auth.example.com',
    smtpUrl: SMTP_URL,
  }, ['smtpUrl']));
});
const userData = (): string => one(resources, 'aws:ec2/instance:Instance').inputs['userData'];

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
    expect(userData).toContain("PUBLIC_URL='https://auth.example.com'");
    for (const name of ['SECRET_KEY', 'POSTGRES_PASSWORD', 'PGADMIN_PASSWORD'])
      expect(userData).toMatch(new RegExp(`^${name}=\\$\\(openssl rand `, 'm'));
    expect(userData).toContain('umask 077');
    // Latchkey answers on the instance's loopback only, behind Caddy.
    expect(userData).toMatch(/^LATCHKEY_PORT=127\.0\.0\.1:5001$/m);
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

  it('can be reached by Session Manager, with no other AWS permission than reading its SMTP URL', () => {
    const attachments = resources.filter((r) => r.type === 'aws:iam/rolePolicyAttachment:RolePolicyAttachment');
    expect(attachments.map((a) => a.inputs['policyArn'])).toEqual(['arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore']);
    const parameter = one(resources, 'aws:ssm/parameter:Parameter');
    const policy = JSON.parse(one(resources, 'aws:iam/rolePolicy:RolePolicy').inputs['policy']);
    expect(policy.Statement).toEqual([
      expect.objectContaining({ Effect: 'Allow', Action: ['ssm:GetParameter'], Resource: `arn:aws:ssm:eu-west-1:123456789012:${parameter.name}` }),
    ]);
  });

  it('outputs how to connect', async () => {
    expect(await valueOf(outputs['ssh'])).toBe('ssh ubuntu@198.51.100.7');
    expect(await valueOf(outputs['publicUrl'])).toBe('https://auth.example.com');
    expect(outputs['warning']).toBeUndefined();
  });
});

describe('single: TLS and mail', () => {
  it('terminates TLS with Caddy for the configured domain, redirecting HTTP to HTTPS, in front of Latchkey on loopback', () => {
    expect(userData()).toMatch(/^apt-get install .*\bcaddy\b/m);
    const caddyfile = /cat > \/etc\/caddy\/Caddyfile <<'CADDY'\n([\s\S]*?)\nCADDY\n/.exec(userData())?.[1];
    expect(caddyfile).toContain('auth.example.com {\n\treverse_proxy 127.0.0.1:5001\n}');
    expect(caddyfile).toContain('http://auth.example.com {\n\tredir https://auth.example.com{uri} permanent\n}');
    expect(userData()).toMatch(/^systemctl (restart|reload-or-restart) caddy$/m);
    // Caddy is the one proxy in front: Latchkey believes its X-Forwarded-For, one hop, and nobody else's.
    expect(userData()).toMatch(/^TRUST_PROXY=loopback$/m);
  });

  it('keeps the SMTP URL a secret: an encrypted SSM parameter the instance reads at boot, never in user data or outputs', async () => {
    const parameter = one(resources, 'aws:ssm/parameter:Parameter');
    expect(parameter.inputs).toMatchObject({ type: 'SecureString', value: SMTP_URL });
    for (const r of resources.filter((r) => r !== parameter)) expect(JSON.stringify(r.inputs), r.type).not.toContain('MAILPASSWORD');
    expect(JSON.stringify(await valueOf(outputs))).not.toContain('MAILPASSWORD');
    expect(userData()).toContain(`SMTP_URL_PARAMETER='${parameter.name}'`);
    expect(userData()).toMatch(/aws ssm get-parameter --region "\$REGION" --name "\$SMTP_URL_PARAMETER" --with-decryption/);
    expect(userData()).toMatch(/^SMTP_URL='\$SMTP_URL'$/m);
    expect(userData()).not.toContain('mailpit');
  });
});
