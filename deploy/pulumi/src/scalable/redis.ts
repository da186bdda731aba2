import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import type { ScalableSettings } from '../settings';
import { REDIS_PORT } from './security-groups';

export interface RedisOptions {
  readonly settings: ScalableSettings['redis'];
  readonly subnetIds: pulumi.Input<string>[];
  readonly securityGroupId: pulumi.Input<string>;
  readonly authToken: pulumi.Output<string>;
  readonly tags: Record<string, string>;
}

/** ElastiCache Redis for the shared throttling counters: private, TLS, encrypted at rest, AUTH token. */
export function createRedis(name: string, opts: RedisOptions) {
  const subnetGroup = new aws.elasticache.SubnetGroup(`${name}-redis`, { subnetIds: opts.subnetIds, tags: opts.tags });
  const several = opts.settings.nodes > 1;
  const group = new aws.elasticache.ReplicationGroup(`${name}-redis`, {
    description: 'Latchkey throttling counters',
    engine: 'redis',
    engineVersion: opts.settings.engineVersion,
    nodeType: opts.settings.nodeType,
    numCacheClusters: opts.settings.nodes,
    automaticFailoverEnabled: several,
    multiAzEnabled: several,
    port: REDIS_PORT,
    subnetGroupName: subnetGroup.name,
    securityGroupIds: [opts.securityGroupId],
    atRestEncryptionEnabled: true,
    transitEncryptionEnabled: true,
    authToken: opts.authToken,
    autoMinorVersionUpgrade: true,
    tags: opts.tags,
  });
  // rediss://: TLS, against a certificate from Amazon's public CA, which Node trusts as it is.
  const url = pulumi.interpolate`rediss://:${opts.authToken}@${group.primaryEndpointAddress}:${REDIS_PORT}`;
  return { group, url: pulumi.secret(url) };
}
