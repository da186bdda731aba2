import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import type { ScalableSettings } from '../settings';
import { LATCHKEY_PORT } from './security-groups';

export interface ServiceOptions {
  readonly settings: ScalableSettings;
  readonly vpcId: pulumi.Input<string>;
  readonly publicSubnetIds: pulumi.Input<string>[];
  readonly privateSubnetIds: pulumi.Input<string>[];
  readonly albSecurityGroupId: pulumi.Input<string>;
  readonly serviceSecurityGroupId: pulumi.Input<string>;
  /** Plain settings, none of them secret. */
  readonly environment: Record<string, pulumi.Input<string>>;
  /** Variable name -> ARN of the Secrets Manager secret ECS reads it from when a task starts. */
  readonly secrets: Record<string, pulumi.Input<string>>;
  /** ECS reads a secret when a task starts: the values must be stored before the first task. */
  readonly secretValues: pulumi.Resource[];
  readonly tags: Record<string, string>;
}

/** Liveness, not readiness: /readyz fails while PostgreSQL is away, and ECS would then replace every task at once. */
export const HEALTH_CHECK_PATH = '/healthz';
const CONTAINER = 'latchkey';

/** The load balancer (HTTPS, HTTP redirected), the execution role, the task and the Fargate service. */
export function createService(name: string, opts: ServiceOptions) {
  const { settings, tags } = opts;

  const alb = new aws.lb.LoadBalancer(name, {
    loadBalancerType: 'application',
    internal: false,
    securityGroups: [opts.albSecurityGroupId],
    subnets: opts.publicSubnetIds,
    // Requests whose headers are not valid HTTP never reach Latchkey.
    dropInvalidHeaderFields: true,
    tags,
  });
  const targetGroup = new aws.lb.TargetGroup(name, {
    port: LATCHKEY_PORT,
    protocol: 'HTTP',
    targetType: 'ip',
    vpcId: opts.vpcId,
    // Longer than Latchkey's SHUTDOWN_TIMEOUT (10 s): requests in flight finish before the task goes.
    deregistrationDelay: 30,
    healthCheck: { path: HEALTH_CHECK_PATH, matcher: '200', interval: 15, timeout: 5, healthyThreshold: 2, unhealthyThreshold: 3 },
    tags,
  });
  new aws.lb.Listener(`${name}-http`, {
    loadBalancerArn: alb.arn,
    port: 80,
    protocol: 'HTTP',
    defaultActions: [{ type: 'redirect', redirect: { protocol: 'HTTPS', port: '443', statusCode: 'HTTP_301' } }],
    tags,
  });
  const https = new aws.lb.Listener(`${name}-https`, {
    loadBalancerArn: alb.arn,
    port: 443,
    protocol: 'HTTPS',
    certificateArn: settings.certificateArn,
    sslPolicy: settings.sslPolicy,
    defaultActions: [{ type: 'forward', targetGroupArn: targetGroup.arn }],
    tags,
  });

  const logGroup = new aws.cloudwatch.LogGroup(name, { retentionInDays: settings.logRetentionDays, tags });
  const executionRole = new aws.iam.Role(`${name}-execution`, {
    assumeRolePolicy: aws.iam.assumeRolePolicyForPrincipal({ Service: 'ecs-tasks.amazonaws.com' }),
    tags,
  });
  new aws.iam.RolePolicy(`${name}-execution`, {
    role: executionRole.id,
    policy: pulumi.jsonStringify({
      Version: '2012-10-17',
      Statement: [
        { Sid: 'ReadLatchkeySecrets', Effect: 'Allow', Action: ['secretsmanager:GetSecretValue'], Resource: Object.values(opts.secrets) },
        { Sid: 'WriteLogs', Effect: 'Allow', Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Resource: pulumi.interpolate`${logGroup.arn}:*` },
        ...ecrPullStatements(settings.image),
      ],
    }),
  });

  const region = aws.getRegionOutput().region;
  const environment = Object.entries({ ...opts.environment })
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, value]) => ({ name, value }));
  const secrets = Object.entries(opts.secrets)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, valueFrom]) => ({ name, valueFrom }));
  const taskDefinition = new aws.ecs.TaskDefinition(name, {
    family: name,
    requiresCompatibilities: ['FARGATE'],
    networkMode: 'awsvpc',
    cpu: String(settings.cpu),
    memory: String(settings.memory),
    runtimePlatform: { operatingSystemFamily: 'LINUX', cpuArchitecture: settings.cpuArchitecture },
    executionRoleArn: executionRole.arn,
    // No task role: Latchkey calls no AWS API, so its containers get no AWS credentials at all; with ECS
    // Exec, a role that can only open its Session Manager channels.
    taskRoleArn: settings.ecsExec ? createExecRole(`${name}-task`, tags).arn : undefined,
    containerDefinitions: pulumi.jsonStringify([
      {
        name: CONTAINER,
        image: settings.image,
        essential: true,
        portMappings: [{ containerPort: LATCHKEY_PORT, protocol: 'tcp' }],
        environment,
        secrets,
        stopTimeout: 30,
        logConfiguration: {
          logDriver: 'awslogs',
          options: { 'awslogs-group': logGroup.name, 'awslogs-region': region, 'awslogs-stream-prefix': CONTAINER },
        },
      },
    ]),
    tags,
  });

  const cluster = new aws.ecs.Cluster(name, { tags });
  const service = new aws.ecs.Service(
    name,
    {
      cluster: cluster.arn,
      taskDefinition: taskDefinition.arn,
      desiredCount: settings.desiredCount,
      launchType: 'FARGATE',
      networkConfiguration: {
        subnets: opts.privateSubnetIds,
        securityGroups: [opts.serviceSecurityGroupId],
        assignPublicIp: false,
      },
      loadBalancers: [{ targetGroupArn: targetGroup.arn, containerName: CONTAINER, containerPort: LATCHKEY_PORT }],
      healthCheckGracePeriodSeconds: 60,
      deploymentCircuitBreaker: { enable: true, rollback: true },
      propagateTags: 'SERVICE',
      enableExecuteCommand: settings.ecsExec,
      tags,
    },
    { dependsOn: [https, ...opts.secretValues] },
  );

  return { alb, targetGroup, logGroup, executionRole, taskDefinition, cluster, service };
}

/** Pulling from ECR: the token (which names no resource), and the image's own repository only. */
export function ecrPullStatements(image: string): object[] {
  const match = /^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?\/([^:@]+)/.exec(image);
  if (!match) return []; // a public registry needs no AWS permission
  const [, account, region, china, repository] = match;
  const partition = china ? 'aws-cn' : 'aws';
  return [
    { Sid: 'EcrToken', Effect: 'Allow', Action: ['ecr:GetAuthorizationToken'], Resource: '*' },
    {
      Sid: 'PullImage',
      Effect: 'Allow',
      Action: ['ecr:BatchCheckLayerAvailability', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchGetImage'],
      Resource: `arn:${partition}:ecr:${region}:${account}:repository/${repository}`,
    },
  ];
}

/** The task role ECS Exec needs (`aws ecs execute-command`): the four Session Manager channel actions, nothing else. */
function createExecRole(name: string, tags: Record<string, string>): aws.iam.Role {
  const role = new aws.iam.Role(name, {
    assumeRolePolicy: aws.iam.assumeRolePolicyForPrincipal({ Service: 'ecs-tasks.amazonaws.com' }),
    tags,
  });
  new aws.iam.RolePolicy(name, {
    role: role.id,
    policy: JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'EcsExecChannels',
          Effect: 'Allow',
          Action: ['ssmmessages:CreateControlChannel', 'ssmmessages:CreateDataChannel', 'ssmmessages:OpenControlChannel', 'ssmmessages:OpenDataChannel'],
          Resource: '*',
        },
      ],
    }),
  });
  return role;
}
