import * as pulumi from '@pulumi/pulumi';

/** A resource's inputs, read as loosely as the JSON they are: each test knows the shape it looks at. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Inputs = Record<string, any>;

/** One resource the program asked for, with the inputs it passed (secrets unwrapped). */
export interface Recorded {
  readonly type: string;
  readonly name: string;
  readonly inputs: Inputs;
}

/** What the mocked random passwords come out as: a test can then look for them anywhere. */
export const mockRandom = (name: string) => `MOCKRANDOM${name.replace(/[^A-Za-z0-9]/g, '')}`;

export const REGION = 'eu-west-1';
const ACCOUNT = '123456789012';

/**
 * Runs the program against Pulumi's mocks (no engine, no cloud account) with the given `latchkey:*`
 * configuration, and returns every resource it registered once all of them are in.
 */
export async function build(
  stack: string,
  config: Record<string, string>,
  secretKeys: string[] = [],
): Promise<{ resources: Recorded[]; outputs: Record<string, unknown> }> {
  const resources: Recorded[] = [];
  await pulumi.runtime.setMocks(
    {
      newResource(args) {
        const inputs = unwrapSecrets(args.inputs) as Inputs;
        resources.push({ type: args.type, name: args.name, inputs });
        return { id: `${args.name}-id`, state: { ...inputs, ...computed(args.type, args.name, inputs) } };
      },
      call(args) {
        switch (args.token) {
          case 'aws:index/getAvailabilityZones:getAvailabilityZones':
            return { names: [`${REGION}a`, `${REGION}b`, `${REGION}c`] };
          case 'aws:ec2/getAmi:getAmi':
            return { id: 'ami-0123456789abcdef0' };
          case 'aws:index/getRegion:getRegion':
            return { name: REGION, region: REGION };
          default:
            throw new Error(`the program called ${args.token}, which the mocks do not answer`);
        }
      },
    },
    'latchkey',
    stack,
    false,
  );
  const prefixed = Object.fromEntries(Object.entries(config).map(([k, v]) => [k.includes(':') ? k : `latchkey:${k}`, v]));
  pulumi.runtime.setAllConfig(prefixed, secretKeys.map((k) => `latchkey:${k}`));

  const { deploy } = await import('../src/deploy');
  const outputs = deploy(new pulumi.Config('latchkey'));
  // Every registration has been sent once the runtime's queue of calls is empty.
  await pulumi.runtime.disconnect();
  return { resources, outputs };
}

function computed(type: string, name: string, inputs: Inputs): Record<string, unknown> {
  const arn = `arn:aws:${type.split(':')[1]?.split('/')[0]}:${REGION}:${ACCOUNT}:${name}`;
  switch (type) {
    case 'random:index/randomPassword:RandomPassword':
      return { result: mockRandom(name) };
    case 'aws:rds/instance:Instance':
      return { arn, address: `${name}.db.internal`, endpoint: `${name}.db.internal:5432`, port: inputs['port'] ?? 5432 };
    case 'aws:elasticache/replicationGroup:ReplicationGroup':
      return { arn, primaryEndpointAddress: `${name}.cache.internal` };
    case 'aws:lb/loadBalancer:LoadBalancer':
      return { arn, dnsName: `${name}.elb.example`, zoneId: 'Z0000000000000' };
    case 'aws:ec2/eip:Eip':
      return { arn, publicIp: '198.51.100.7', allocationId: `eipalloc-${name}` };
    case 'aws:ec2/keyPair:KeyPair':
      return { arn, keyName: name };
    default:
      return { arn, name: inputs['name'] ?? name };
  }
}

/** Pulumi's marker for a secret value that crossed the wire. */
const SECRET_SIG = '1b47061264138c4ac30d75fd1eb44270';
const SIG_KEY = '4dabf18193072939515e22adb298388d';

function unwrapSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(unwrapSecrets);
  if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if (o[SIG_KEY] === SECRET_SIG) return unwrapSecrets(o['value']);
    return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, unwrapSecrets(v)]));
  }
  return value;
}

/** Resolves a stack output (an Output or a plain value) to its value. */
export function valueOf<T>(output: unknown): Promise<T> {
  return new Promise((resolve) => pulumi.output(output as pulumi.Input<T>).apply((v) => resolve(v as T)));
}

export const ofType = (resources: Recorded[], type: string) => resources.filter((r) => r.type === type);

export function one(resources: Recorded[], type: string): Recorded {
  const found = ofType(resources, type);
  if (found.length !== 1) throw new Error(`expected one ${type}, found ${found.length}`);
  return found[0]!;
}

/** Every way a security group can be opened: inline blocks and the two kinds of standalone rule. */
export interface Opening {
  readonly direction: 'ingress' | 'egress';
  /** The group it opens: its logical name for inline rules, its mocked id for standalone ones. */
  readonly group: string;
  readonly fromPort: number;
  readonly toPort: number;
  readonly protocol: string;
  readonly cidrs: string[];
  /** Security groups the rule lets in (ingress) or out to (egress), by mocked id. */
  readonly peers: string[];
}

export function openings(resources: Recorded[]): Opening[] {
  const out: Opening[] = [];
  for (const sg of ofType(resources, 'aws:ec2/securityGroup:SecurityGroup')) {
    for (const direction of ['ingress', 'egress'] as const) {
      for (const rule of (sg.inputs[direction] ?? []) as Inputs[]) {
        out.push({
          direction,
          group: `${sg.name}-id`,
          fromPort: rule['fromPort'],
          toPort: rule['toPort'],
          protocol: String(rule['protocol']),
          cidrs: [...(rule['cidrBlocks'] ?? []), ...(rule['ipv6CidrBlocks'] ?? [])],
          peers: [...(rule['securityGroups'] ?? [])],
        });
      }
    }
  }
  for (const type of ['aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule', 'aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule']) {
    for (const rule of ofType(resources, type)) {
      const i = rule.inputs;
      out.push({
        direction: type.includes('Ingress') ? 'ingress' : 'egress',
        group: i['securityGroupId'],
        fromPort: i['fromPort'],
        toPort: i['toPort'],
        protocol: String(i['ipProtocol']),
        cidrs: [i['cidrIpv4'], i['cidrIpv6']].filter(Boolean),
        peers: [i['referencedSecurityGroupId']].filter(Boolean),
      });
    }
  }
  for (const rule of ofType(resources, 'aws:ec2/securityGroupRule:SecurityGroupRule')) {
    const i = rule.inputs;
    out.push({
      direction: i['type'],
      group: i['securityGroupId'],
      fromPort: i['fromPort'],
      toPort: i['toPort'],
      protocol: String(i['protocol']),
      cidrs: [...(i['cidrBlocks'] ?? []), ...(i['ipv6CidrBlocks'] ?? [])],
      peers: [i['sourceSecurityGroupId']].filter(Boolean),
    });
  }
  return out;
}

export const WORLD = ['0.0.0.0/0', '::/0'];
