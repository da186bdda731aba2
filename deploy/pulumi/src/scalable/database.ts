import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import type { ScalableSettings } from '../settings';
import { POSTGRES_PORT } from './security-groups';

export interface DatabaseOptions {
  readonly settings: ScalableSettings['db'];
  readonly subnetIds: pulumi.Input<string>[];
  readonly securityGroupId: pulumi.Input<string>;
  readonly password: pulumi.Output<string>;
  readonly tags: Record<string, string>;
}

const DB_NAME = 'latchkey';
const DB_USER = 'latchkey';

/**
 * RDS PostgreSQL in the private subnets: encrypted storage, daily backups kept at least seven days,
 * TLS required of every connection, no public address, and deletion protection (turn it off by hand
 * before `pulumi destroy`, which then leaves a final snapshot).
 */
export function createDatabase(name: string, opts: DatabaseOptions) {
  const major = opts.settings.engineVersion.split('.')[0]!;
  const subnetGroup = new aws.rds.SubnetGroup(`${name}-db`, { subnetIds: opts.subnetIds, tags: opts.tags });
  const parameters = new aws.rds.ParameterGroup(`${name}-db`, {
    family: `postgres${major}`,
    parameters: [{ name: 'rds.force_ssl', value: '1' }],
    tags: opts.tags,
  });
  const instance = new aws.rds.Instance(`${name}-db`, {
    engine: 'postgres',
    engineVersion: opts.settings.engineVersion,
    instanceClass: opts.settings.instanceClass,
    allocatedStorage: opts.settings.allocatedStorageGb,
    storageType: 'gp3',
    storageEncrypted: true,
    dbName: DB_NAME,
    username: DB_USER,
    password: opts.password,
    port: POSTGRES_PORT,
    dbSubnetGroupName: subnetGroup.name,
    vpcSecurityGroupIds: [opts.securityGroupId],
    parameterGroupName: parameters.name,
    publiclyAccessible: false,
    multiAz: opts.settings.multiAz,
    backupRetentionPeriod: opts.settings.backupRetentionDays,
    copyTagsToSnapshot: true,
    deletionProtection: true,
    skipFinalSnapshot: false,
    finalSnapshotIdentifier: `${name}-db-final-${pulumi.getStack().replace(/[^A-Za-z0-9]+/g, '-')}`,
    autoMinorVersionUpgrade: true,
    tags: opts.tags,
  });

  // RDS's certificate verifies only against its own CA bundle, which must be inside the image; without
  // it the connection is still encrypted (rds.force_ssl) but does not check whom it talks to.
  const tls = opts.settings.caCertPath
    ? `sslmode=verify-full&sslrootcert=${encodeURIComponent(opts.settings.caCertPath)}`
    : 'sslmode=no-verify';
  const url = pulumi.interpolate`postgres://${DB_USER}:${opts.password}@${instance.address}:${instance.port}/${DB_NAME}?${tls}`;
  return { instance, url: pulumi.secret(url) };
}
