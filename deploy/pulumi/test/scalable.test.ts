import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { SECRET_VARIABLES } from '../src/settings';
import { build, mockRandom, ofType, one, openings, valueOf, WORLD, type Opening, type Recorded } from './harness';

const IMAGE = '123456789012.dkr.ecr.eu-west-1.amazonaws.com/latchkey:1.2.3';
const CERTIFICATE = 'arn:aws:acm:eu-west-1:123456789012:certificate/0f1e2d3c-aaaa-bbbb-cccc-000000000000';
const SMTP_URL = 'smtps://mailer:MAILPASSWORD@smtp.example.com:465';
let resources: Recorded[];
let outputs: Record<string, unknown>;

beforeAll(async () => {
  ({ resources, outputs } = await build(
    'scalable',
    {
      'aws:region': 'eu-west-1',
      shape: 'scalable',
      image: IMAGE,
      certificateArn: CERTIFICATE,
      publicUrl: 'https://auth.example.com',
      smtpUrl: SMTP_URL,
      environment: JSON.stringify({ CORS_ORIGINS: 'https://app.example.com', MAIL_FROM: 'auth@example.com' }),
    },
    ['smtpUrl'],
  ));
});

const groupId = (suffix: string) => `latchkey-${suffix}-id`;
const privateSubnetIds = () => ofType(resources, 'aws:ec2/subnet:Subnet').filter((s) => s.name.includes('-private-')).map((s) => `${s.name}-id`);
const publicSubnets = () => ofType(resources, 'aws:ec2/subnet:Subnet').filter((s) => s.name.includes('-public-'));
const container = () => JSON.parse(one(resources, 'aws:ecs/taskDefinition:TaskDefinition').inputs['containerDefinitions'])[0];
const inbound = (group: string) => openings(resources).filter((o) => o.direction === 'ingress' && o.group === groupId(group));
const summary = (os: Opening[]) => os.map((o) => ({ ports: [o.fromPort, o.toPort], protocol: o.protocol, from: [...o.cidrs, ...o.peers] }));

describe('scalable: PostgreSQL', () => {
  it('is not publicly accessible and lives in the private subnets', () => {
    const db = one(resources, 'aws:rds/instance:Instance');
    expect(db.inputs['publiclyAccessible']).toBe(false);
    const subnetGroup = one(resources, 'aws:rds/subnetGroup:SubnetGroup');
    expect(db.inputs['dbSubnetGroupName']).toBe(subnetGroup.name);
    expect([...subnetGroup.inputs['subnetIds']].sort()).toEqual(privateSubnetIds().sort());
    expect(db.inputs['vpcSecurityGroupIds']).toEqual([groupId('db')]);
  });

  it('encrypts its storage, keeps backups at least seven days, and is protected from deletion', () => {
    const db = one(resources, 'aws:rds/instance:Instance').inputs;
    expect(db['storageEncrypted']).toBe(true);
    expect(db['backupRetentionPeriod']).toBeGreaterThanOrEqual(7);
    expect(db['deletionProtection']).toBe(true);
    expect(db['skipFinalSnapshot']).toBe(false);
  });

  it('refuses connections without TLS', () => {
    const params = one(resources, 'aws:rds/parameterGroup:ParameterGroup');
    expect(one(resources, 'aws:rds/instance:Instance').inputs['parameterGroupName']).toBe(params.name);
    expect(params.inputs['parameters']).toContainEqual(expect.objectContaining({ name: 'rds.force_ssl', value: '1' }));
  });
});

describe('scalable: Redis', () => {
  it('encrypts in transit and at rest, asks for a token, and is private', () => {
    const redis = one(resources, 'aws:elasticache/replicationGroup:ReplicationGroup').inputs;
    expect(redis['transitEncryptionEnabled']).toBe(true);
    expect(redis['atRestEncryptionEnabled']).toBe(true);
    expect(redis['authToken']).toBe(mockRandom('latchkey-redis-token'));
    expect(redis['securityGroupIds']).toEqual([groupId('redis')]);
    const subnetGroup = one(resources, 'aws:elasticache/subnetGroup:SubnetGroup');
    expect([...subnetGroup.inputs['subnetIds']].sort()).toEqual(privateSubnetIds().sort());
  });
});

describe('scalable: security groups', () => {
  it('lets the world in on 80 and 443 of the load balancer only', () => {
    const fromWorld = openings(resources).filter((o) => o.direction === 'ingress' && o.cidrs.some((c) => WORLD.includes(c)));
    expect(fromWorld.map((o) => [o.group, o.protocol, o.fromPort, o.toPort])).toEqual([
      [groupId('alb'), 'tcp', 80, 80],
      [groupId('alb'), 'tcp', 443, 443],
    ]);
  });

  it('lets only the tasks reach PostgreSQL on 5432 and Redis on 6379', () => {
    expect(summary(inbound('db'))).toEqual([{ ports: [5432, 5432], protocol: 'tcp', from: [groupId('service')] }]);
    expect(summary(inbound('redis'))).toEqual([{ ports: [6379, 6379], protocol: 'tcp', from: [groupId('service')] }]);
  });

  it('lets only the load balancer reach the tasks, on the container port', () => {
    expect(summary(inbound('service'))).toEqual([{ ports: [5001, 5001], protocol: 'tcp', from: [groupId('alb')] }]);
    expect(container().portMappings).toEqual([{ containerPort: 5001, protocol: 'tcp' }]);
  });

  it('lets the load balancer send only to the tasks', () => {
    const out = openings(resources).filter((o) => o.direction === 'egress' && o.group === groupId('alb'));
    expect(summary(out)).toEqual([{ ports: [5001, 5001], protocol: 'tcp', from: [groupId('service')] }]);
  });

  it('lets PostgreSQL and Redis send nothing', () => {
    const out = openings(resources).filter((o) => o.direction === 'egress' && [groupId('db'), groupId('redis')].includes(o.group));
    expect(out).toEqual([]);
  });

  it('opens no rule to every protocol or every port', () => {
    for (const o of openings(resources)) {
      expect(o.protocol).toBe('tcp');
      expect(o.toPort).toBe(o.fromPort);
    }
  });
});

describe('scalable: secrets', () => {
  const stored = () => {
    const secrets = ofType(resources, 'aws:secretsmanager/secret:Secret');
    const versions = ofType(resources, 'aws:secretsmanager/secretVersion:SecretVersion');
    return secrets.map((s) => ({ arn: `arn:aws:secretsmanager:eu-west-1:123456789012:${s.name}`, value: versions.find((v) => v.inputs['secretId'] === `${s.name}-id`)?.inputs['secretString'] }));
  };

  it('reach the task from Secrets Manager, never as plain environment', () => {
    const c = container();
    const plain: string[] = c.environment.map((e: { name: string }) => e.name);
    for (const name of SECRET_VARIABLES) expect(plain).not.toContain(name);
    const injected = Object.fromEntries(c.secrets.map((s: { name: string; valueFrom: string }) => [s.name, s.valueFrom]));
    expect(Object.keys(injected).sort()).toEqual(['DATABASE_URL', 'REDIS_URL', 'SECRET_KEY', 'SMTP_URL']);
    const byArn = new Map(stored().map((s) => [s.arn, s.value]));
    expect(byArn.get(injected['SECRET_KEY'])).toBe(mockRandom('latchkey-secret-key'));
    expect(byArn.get(injected['DATABASE_URL'])).toBe(
      `postgres://latchkey:${mockRandom('latchkey-db-password')}@latchkey-db.db.internal:5432/latchkey?sslmode=no-verify`,
    );
    expect(byArn.get(injected['REDIS_URL'])).toBe(`rediss://:${mockRandom('latchkey-redis-token')}@latchkey-redis.cache.internal:6379`);
    expect(byArn.get(injected['SMTP_URL'])).toBe(SMTP_URL);
  });

  it('appear in no resource but their secret, the database and Redis, and in no output', async () => {
    const values = ['latchkey-secret-key', 'latchkey-db-password', 'latchkey-redis-token'].map(mockRandom).concat('MAILPASSWORD');
    const allowed = new Set([
      'aws:secretsmanager/secretVersion:SecretVersion',
      'aws:rds/instance:Instance',
      'aws:elasticache/replicationGroup:ReplicationGroup',
    ]);
    for (const r of resources.filter((r) => !allowed.has(r.type))) {
      const text = JSON.stringify(r.inputs);
      for (const v of values) expect(text, `${r.type} ${r.name}`).not.toContain(v);
    }
    const db = one(resources, 'aws:rds/instance:Instance').inputs;
    expect(JSON.stringify({ ...db, password: undefined })).not.toContain(mockRandom('latchkey-db-password'));
    const shown = JSON.stringify(await valueOf(outputs));
    for (const v of values) expect(shown).not.toContain(v);
  });

  it('are the only ones the execution role may read; the task gets no role', () => {
    const policy = JSON.parse(one(resources, 'aws:iam/rolePolicy:RolePolicy').inputs['policy']);
    const statements: { Action: string[]; Resource: string | string[] }[] = policy.Statement;
    const reading = statements.filter((s) => s.Action.some((a) => a.startsWith('secretsmanager:')));
    expect(reading).toHaveLength(1);
    expect(reading[0]!.Action).toEqual(['secretsmanager:GetSecretValue']);
    expect([...(reading[0]!.Resource as string[])].sort()).toEqual(stored().map((s) => s.arn).sort());
    const actions = statements.flatMap((s) => s.Action).sort();
    expect(actions).toEqual([
      'ecr:BatchCheckLayerAvailability',
      'ecr:BatchGetImage',
      'ecr:GetAuthorizationToken',
      'ecr:GetDownloadUrlForLayer',
      'logs:CreateLogStream',
      'logs:PutLogEvents',
      'secretsmanager:GetSecretValue',
    ]);
    for (const s of statements.filter((s) => s.Resource === '*')) expect(s.Action).toEqual(['ecr:GetAuthorizationToken']);
    const pull = statements.find((s) => s.Action.includes('ecr:BatchGetImage'))!;
    expect(pull.Resource).toBe('arn:aws:ecr:eu-west-1:123456789012:repository/latchkey');
    expect(ofType(resources, 'aws:iam/rolePolicyAttachment:RolePolicyAttachment')).toEqual([]);
    expect(one(resources, 'aws:ecs/taskDefinition:TaskDefinition').inputs['taskRoleArn']).toBeUndefined();
  });
});

describe('scalable: load balancer and service', () => {
  it('answers HTTPS with the configured certificate and redirects HTTP to it', () => {
    const listeners = ofType(resources, 'aws:lb/listener:Listener');
    const https = listeners.find((l) => l.inputs['port'] === 443)!;
    expect(https.inputs).toMatchObject({ protocol: 'HTTPS', certificateArn: CERTIFICATE });
    expect(https.inputs['defaultActions']).toEqual([
      expect.objectContaining({ type: 'forward', targetGroupArn: expect.stringContaining('latchkey') }),
    ]);
    const http = listeners.find((l) => l.inputs['port'] === 80)!;
    expect(http.inputs['defaultActions']).toEqual([
      expect.objectContaining({ type: 'redirect', redirect: expect.objectContaining({ protocol: 'HTTPS', port: '443', statusCode: 'HTTP_301' }) }),
    ]);
    expect(listeners).toHaveLength(2);
  });

  it("checks health on Latchkey's own health route", () => {
    const path = one(resources, 'aws:lb/targetGroup:TargetGroup').inputs['healthCheck']['path'];
    expect(path).toBe('/healthz');
    const routes = readFileSync(join(__dirname, '..', '..', '..', 'src', 'http', 'routes', 'meta', 'health.ts'), 'utf8');
    expect(routes).toContain(`'${path}'`);
  });

  it('runs the tasks in the private subnets without public addresses', () => {
    const service = one(resources, 'aws:ecs/service:Service').inputs;
    expect(service['launchType']).toBe('FARGATE');
    expect(service['networkConfiguration']['assignPublicIp']).toBe(false);
    expect([...service['networkConfiguration']['subnets']].sort()).toEqual(privateSubnetIds().sort());
    expect(service['networkConfiguration']['securityGroups']).toEqual([groupId('service')]);
    const alb = one(resources, 'aws:lb/loadBalancer:LoadBalancer').inputs;
    expect(alb['internal']).toBe(false);
    expect(alb['securityGroups']).toEqual([groupId('alb')]);
  });

  it("gives Latchkey its settings, believing X-Forwarded-For from the load balancer's subnets only", () => {
    const env = Object.fromEntries(container().environment.map((e: { name: string; value: string }) => [e.name, e.value]));
    const albCidrs = publicSubnets().map((s) => s.inputs['cidrBlock']);
    expect(albCidrs).toEqual(['10.0.0.0/20', '10.0.16.0/20']);
    expect(env).toEqual({
      CORS_ORIGINS: 'https://app.example.com',
      MAIL_FROM: 'auth@example.com',
      NODE_ENV: 'production',
      PORT: '5001',
      PUBLIC_URL: 'https://auth.example.com',
      TRUST_PROXY: albCidrs.join(','),
      WORKERS: '1',
    });
    expect(container().image).toBe(IMAGE);
  });

  it('keeps its logs for the configured time', () => {
    const logs = one(resources, 'aws:cloudwatch/logGroup:LogGroup');
    expect(logs.inputs['retentionInDays']).toBe(30);
    expect(container().logConfiguration.options['awslogs-group']).toBe(logs.name);
  });
});
