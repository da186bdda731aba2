import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as pulumi from '@pulumi/pulumi';
import { describe, expect, it } from 'vitest';
import { cidrSubnet, parseIpv4Cidr } from '../src/cidr';
import { ecrPullStatements } from '../src/scalable/service';
import { readSettings, type ConfigSource, type ScalableSettings, type SingleSettings } from '../src/settings';

/** A stack configuration from plain values, as `pulumi config set` would leave it. */
function source(values: Record<string, unknown>): ConfigSource {
  return {
    get: (key) => (values[key] === undefined ? undefined : String(values[key])),
    getObject: <T>(key: string) => values[key] as T | undefined,
    getSecret: (key) => (values[key] === undefined ? undefined : pulumi.secret(String(values[key]))),
  };
}

function problems(values: Record<string, unknown>): string {
  try {
    readSettings(source(values));
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('the configuration was accepted');
}

const single = {
  shape: 'single',
  repoUrl: 'https://git.example.com/latchkey.git',
  publicUrl: 'https://auth.example.com',
  smtpUrl: 'smtps://mailer:secret@smtp.example.com:465',
};
const scalable = {
  shape: 'scalable',
  image: 'ghcr.io/example/latchkey:1.0.0',
  certificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/abc',
  publicUrl: 'https://auth.example.com',
};

describe('settings', () => {
  it('needs a shape', () => {
    expect(problems({})).toContain('latchkey:shape: expected single or scalable, got nothing');
    expect(problems({ shape: 'big' })).toContain('got "big"');
  });

  it('single: defaults that keep SSH closed', () => {
    const s = readSettings(source(single)) as SingleSettings;
    expect(s).toMatchObject({ sshCidr: undefined, repoRef: 'main', composeFile: 'deploy/compose.yml', rootVolumeGb: 20, vpcCidr: '10.0.0.0/16' });
  });

  it('single: refuses SSH from the whole internet, and a range that is not one', () => {
    expect(problems({ ...single, sshCidr: '0.0.0.0/0' })).toContain('latchkey:sshCidr: must not be the whole internet');
    expect(problems({ ...single, sshCidr: '203.0.113.7' })).toContain('latchkey:sshCidr: expected an IPv4 CIDR range');
    expect((readSettings(source({ ...single, sshCidr: '203.0.113.0/24' })) as SingleSettings).sshCidr).toBe('203.0.113.0/24');
  });

  it('single: refuses to come up without TLS and an SMTP URL unless it is a demo', async () => {
    const text = problems({ shape: 'single', repoUrl: single.repoUrl });
    expect(text).toContain('latchkey:publicUrl: required');
    expect(text).toContain('latchkey:smtpUrl: required');
    expect(text).toContain('demo');
    expect(problems({ ...single, publicUrl: 'http://auth.example.com' })).toContain('latchkey:publicUrl: expected a https:// URL');
    // Caddy gets its certificate for a host name: no address, port or path.
    for (const url of ['https://203.0.113.7', 'https://auth.example.com:8443', 'https://auth.example.com/auth'])
      expect(problems({ ...single, publicUrl: url })).toContain('latchkey:publicUrl: expected https://<a host name>');
    const s = readSettings(source(single)) as SingleSettings;
    expect(s).toMatchObject({ demo: false, publicUrl: 'https://auth.example.com' });
    expect(await pulumi.isSecret(s.smtpUrl!)).toBe(true);
  });

  it('single: demo true comes up on plain HTTP with the mail sink, and says so', () => {
    const s = readSettings(source({ shape: 'single', repoUrl: single.repoUrl, demo: 'true' })) as SingleSettings;
    expect(s).toMatchObject({ demo: true, publicUrl: undefined, smtpUrl: undefined });
    expect(problems({ ...single, demo: 'yes' })).toContain('latchkey:demo: expected true or false');
  });

  it('single: refuses what would not be one shell word or a path inside the repository', () => {
    expect(problems({ ...single, repoUrl: undefined })).toContain('latchkey:repoUrl: required');
    expect(problems({ ...single, repoUrl: "https://x/y.git'; rm -rf /" })).toContain('latchkey:repoUrl');
    expect(problems({ ...single, repoRef: '--upload-pack=evil' })).toContain('latchkey:repoRef');
    expect(problems({ ...single, composeFile: '../etc/compose.yml' })).toContain('latchkey:composeFile');
  });

  it('scalable: lists every missing key at once', () => {
    const text = problems({ shape: 'scalable' });
    for (const key of ['image', 'certificateArn', 'publicUrl']) expect(text).toContain(`latchkey:${key}: required`);
  });

  it('scalable: an https public address, backups of at least seven days, a Fargate size', () => {
    expect(problems({ ...scalable, publicUrl: 'http://auth.example.com' })).toContain('latchkey:publicUrl: expected a https:// URL');
    expect(problems({ ...scalable, dbBackupRetentionDays: '3' })).toContain('latchkey:dbBackupRetentionDays: expected a whole number from 7 to 35');
    expect(problems({ ...scalable, cpu: '300' })).toContain('latchkey:cpu: expected one of 256, 512');
    expect(problems({ ...scalable, logRetentionDays: '10' })).toContain('latchkey:logRetentionDays');
  });

  it('scalable: refuses a secret, or a variable the stack sets, as plain environment', () => {
    for (const name of ['SECRET_KEY', 'DATABASE_URL', 'REDIS_URL', 'SMTP_URL', 'JWT_SECRET_KEY'])
      expect(problems({ ...scalable, environment: { [name]: 'x' } })).toContain(`${name} is a secret`);
    expect(problems({ ...scalable, environment: { TRUST_PROXY: 'true' } })).toContain('TRUST_PROXY is set by the stack itself');
    const s = readSettings(source({ ...scalable, environment: { HIBP_URL: 'https://api.pwnedpasswords.com', LOCKOUT_THRESHOLD: 5 } }));
    expect((s as ScalableSettings).environment).toEqual({ HIBP_URL: 'https://api.pwnedpasswords.com', LOCKOUT_THRESHOLD: '5' });
  });

  it('scalable: one Latchkey process per whole vCPU unless told', () => {
    expect((readSettings(source(scalable)) as ScalableSettings).workers).toBe('1');
    expect((readSettings(source({ ...scalable, cpu: '2048', memory: '4096' })) as ScalableSettings).workers).toBe('2');
    expect((readSettings(source({ ...scalable, workers: 'auto' })) as ScalableSettings).workers).toBe('auto');
  });
});

describe('cidr', () => {
  it('splits a range like cidrsubnet', () => {
    expect(cidrSubnet('10.0.0.0/16', 4, 0)).toBe('10.0.0.0/20');
    expect(cidrSubnet('10.0.0.0/16', 4, 9)).toBe('10.0.144.0/20');
    expect(cidrSubnet('172.16.8.0/24', 4, 15)).toBe('172.16.8.240/28');
    expect(() => cidrSubnet('10.0.0.0/16', 4, 16)).toThrow();
  });

  it('refuses what is not a network range', () => {
    expect(parseIpv4Cidr('10.0.0.1/16')).toBeUndefined();
    expect(parseIpv4Cidr('256.0.0.0/8')).toBeUndefined();
    expect(parseIpv4Cidr('10.0.0.0/33')).toBeUndefined();
    expect(parseIpv4Cidr('0.0.0.0/0')).toEqual({ base: 0, prefix: 0 });
  });
});

describe('image pulls', () => {
  it('a public registry needs no AWS permission; ECR only its own repository', () => {
    expect(ecrPullStatements('ghcr.io/example/latchkey:1.0.0')).toEqual([]);
    expect(JSON.stringify(ecrPullStatements('123456789012.dkr.ecr.us-east-1.amazonaws.com/team/latchkey@sha256:abc'))).toContain(
      '"arn:aws:ecr:us-east-1:123456789012:repository/team/latchkey"',
    );
  });
});

describe('stack files', () => {
  it('each names the shape its stack is called after', () => {
    for (const shape of ['single', 'scalable']) {
      const text = readFileSync(join(__dirname, '..', `Pulumi.${shape}.yaml`), 'utf8');
      expect(text).toMatch(new RegExp(`^  latchkey:shape: ${shape}$`, 'm'));
    }
  });
});
