import { beforeAll, expect, it } from 'vitest';
import { build, one, ofType, type Recorded } from './harness';

// `ecsExec: true`: `aws ecs execute-command` reaches the container, for the command line (docs/container-cli.md).
let resources: Recorded[];

beforeAll(async () => {
  ({ resources } = await build('scalable', {
    'aws:region': 'eu-west-1',
    shape: 'scalable',
    image: 'ghcr.io/example/latchkey:1.0.0',
    certificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/abc',
    publicUrl: 'https://auth.example.com',
    ecsExec: 'true',
  }));
});

it('turns ECS Exec on for the service', () => {
  expect(one(resources, 'aws:ecs/service:Service').inputs['enableExecuteCommand']).toBe(true);
});

it('gives the task a role that may open the Session Manager channels ECS Exec needs, and nothing else', () => {
  const roles = ofType(resources, 'aws:iam/role:Role').filter((r) => r.name.endsWith('-task'));
  expect(roles).toHaveLength(1);
  expect(one(resources, 'aws:ecs/taskDefinition:TaskDefinition').inputs['taskRoleArn']).toContain(roles[0]!.name);
  const policies = ofType(resources, 'aws:iam/rolePolicy:RolePolicy').filter((p) => p.inputs['role'] === `${roles[0]!.name}-id`);
  expect(policies).toHaveLength(1);
  const statements: { Action: string[] }[] = JSON.parse(policies[0]!.inputs['policy']).Statement;
  expect(statements.flatMap((s) => s.Action).sort()).toEqual([
    'ssmmessages:CreateControlChannel',
    'ssmmessages:CreateDataChannel',
    'ssmmessages:OpenControlChannel',
    'ssmmessages:OpenDataChannel',
  ]);
});
