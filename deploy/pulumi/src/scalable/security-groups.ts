import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';

export const LATCHKEY_PORT = 5001;
export const POSTGRES_PORT = 5432;
export const REDIS_PORT = 6379;

export interface SecurityGroups {
  readonly alb: aws.ec2.SecurityGroup;
  readonly service: aws.ec2.SecurityGroup;
  readonly database: aws.ec2.SecurityGroup;
  readonly redis: aws.ec2.SecurityGroup;
}

/**
 * One group per tier, each opened only to the tier in front of it: the world reaches the ALB on 80
 * and 443, the ALB reaches the tasks on Latchkey's port, the tasks reach PostgreSQL and Redis. Rules
 * are separate resources, so that two groups can name each other; a group with no egress rule sends
 * nothing (the provider removes AWS's default allow-all).
 */
export function createSecurityGroups(
  name: string,
  vpcId: pulumi.Input<string>,
  opts: { smtp: boolean; tags: Record<string, string> },
): SecurityGroups {
  const group = (suffix: string, description: string) =>
    new aws.ec2.SecurityGroup(`${name}-${suffix}`, { vpcId, description, tags: { ...opts.tags, Name: `${name}-${suffix}` } });
  const alb = group('alb', 'Latchkey load balancer: HTTP and HTTPS from anywhere');
  const service = group('service', 'Latchkey tasks: from the load balancer only');
  const database = group('db', 'Latchkey PostgreSQL: from the tasks only');
  const redis = group('redis', 'Latchkey Redis: from the tasks only');

  const rule = (ruleName: string, direction: 'in' | 'out', sg: aws.ec2.SecurityGroup, port: number, peer: Peer, description: string) => {
    const args = {
      securityGroupId: sg.id,
      ipProtocol: 'tcp',
      fromPort: port,
      toPort: port,
      description,
      ...('cidr' in peer ? { cidrIpv4: peer.cidr } : { referencedSecurityGroupId: peer.group.id }),
      tags: opts.tags,
    };
    return direction === 'in'
      ? new aws.vpc.SecurityGroupIngressRule(`${name}-${ruleName}`, args)
      : new aws.vpc.SecurityGroupEgressRule(`${name}-${ruleName}`, args);
  };
  const world = { cidr: '0.0.0.0/0' };

  rule('alb-in-http', 'in', alb, 80, world, 'HTTP, redirected to HTTPS');
  rule('alb-in-https', 'in', alb, 443, world, 'HTTPS');
  rule('alb-out-service', 'out', alb, LATCHKEY_PORT, { group: service }, 'To the tasks');

  rule('service-in-alb', 'in', service, LATCHKEY_PORT, { group: alb }, 'From the load balancer');
  rule('service-out-db', 'out', service, POSTGRES_PORT, { group: database }, 'To PostgreSQL');
  rule('service-out-redis', 'out', service, REDIS_PORT, { group: redis }, 'To Redis');
  // Image pulls, Secrets Manager, CloudWatch Logs and a breached-password API are all HTTPS.
  rule('service-out-https', 'out', service, 443, world, 'HTTPS: image, secrets, logs, HIBP');
  if (opts.smtp) {
    rule('service-out-submission', 'out', service, 587, world, 'SMTP submission');
    rule('service-out-smtps', 'out', service, 465, world, 'SMTP over TLS');
  }

  rule('db-in-service', 'in', database, POSTGRES_PORT, { group: service }, 'From the tasks');
  rule('redis-in-service', 'in', redis, REDIS_PORT, { group: service }, 'From the tasks');

  return { alb, service, database, redis };
}

type Peer = { cidr: string } | { group: aws.ec2.SecurityGroup };
