import { createNetwork } from '../network';
import type { ScalableSettings } from '../settings';
import { createDatabase } from './database';
import { createRedis } from './redis';
import { randomSecret, storedSecret } from './secrets';
import { createSecurityGroups, LATCHKEY_PORT } from './security-groups';
import { createService } from './service';

/**
 * Latchkey on ECS Fargate behind an Application Load Balancer, with RDS PostgreSQL and ElastiCache
 * Redis in private subnets. Every secret lives in Secrets Manager and reaches the task through ECS's
 * `secrets`, never as plain environment.
 */
export function scalable(settings: ScalableSettings, tags: Record<string, string>) {
  const name = 'latchkey';
  const network = createNetwork(name, { cidr: settings.vpcCidr, zones: 2, privateSubnets: true, tags });
  const groups = createSecurityGroups(name, network.vpc.id, { smtp: settings.smtpUrl !== undefined, tags });
  const privateSubnetIds = network.privateSubnets.map((s) => s.id);

  const database = createDatabase(name, {
    settings: settings.db,
    subnetIds: privateSubnetIds,
    securityGroupId: groups.database.id,
    password: randomSecret(`${name}-db-password`, 40),
    tags,
  });
  const redis = createRedis(name, {
    settings: settings.redis,
    subnetIds: privateSubnetIds,
    securityGroupId: groups.redis.id,
    authToken: randomSecret(`${name}-redis-token`, 48),
    tags,
  });

  const stored: Record<string, ReturnType<typeof storedSecret>> = {
    // Encrypts the signing keys at rest; every task must have the same one.
    SECRET_KEY: storedSecret(`${name}-secret-key`, 'Latchkey SECRET_KEY', randomSecret(`${name}-secret-key`, 48), tags),
    DATABASE_URL: storedSecret(`${name}-database-url`, 'Latchkey DATABASE_URL (holds the database password)', database.url, tags),
    REDIS_URL: storedSecret(`${name}-redis-url`, 'Latchkey REDIS_URL (holds the Redis AUTH token)', redis.url, tags),
  };
  if (settings.smtpUrl) stored['SMTP_URL'] = storedSecret(`${name}-smtp-url`, 'Latchkey SMTP_URL', settings.smtpUrl, tags);
  const secretArns = Object.fromEntries(Object.entries(stored).map(([variable, s]) => [variable, s.secret.arn]));

  const service = createService(name, {
    settings,
    vpcId: network.vpc.id,
    publicSubnetIds: network.publicSubnets.map((s) => s.id),
    privateSubnetIds,
    albSecurityGroupId: groups.alb.id,
    serviceSecurityGroupId: groups.service.id,
    environment: {
      ...settings.environment,
      NODE_ENV: 'production',
      PORT: String(LATCHKEY_PORT),
      PUBLIC_URL: settings.publicUrl,
      // The ALB's own addresses come from the public subnets: believe X-Forwarded-For from them only,
      // so rate limits and audit lines see the client, and a client cannot choose its own address.
      TRUST_PROXY: network.publicCidrs.join(','),
      WORKERS: settings.workers,
    },
    secrets: secretArns,
    secretValues: Object.values(stored).map((s) => s.version),
    tags,
  });

  return {
    publicUrl: settings.publicUrl,
    loadBalancerDnsName: service.alb.dnsName,
    loadBalancerZoneId: service.alb.zoneId,
    databaseEndpoint: database.instance.endpoint,
    redisEndpoint: redis.group.primaryEndpointAddress,
    logGroup: service.logGroup.name,
    cluster: service.cluster.name,
    service: service.service.name,
    secretArns,
  };
}
