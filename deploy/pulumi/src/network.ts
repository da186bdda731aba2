import * as aws from '@pulumi/aws';
import { cidrSubnet } from './cidr';

export interface Network {
  readonly vpc: aws.ec2.Vpc;
  readonly publicSubnets: aws.ec2.Subnet[];
  /** Their ranges: where the load balancer's own addresses come from. */
  readonly publicCidrs: string[];
  /** Empty unless asked for: reach the internet through one NAT gateway, and nothing reaches them from it. */
  readonly privateSubnets: aws.ec2.Subnet[];
}

export interface NetworkOptions {
  readonly cidr: string;
  /** Availability zones to spread over (an ALB and an RDS subnet group need two). */
  readonly zones: number;
  readonly privateSubnets: boolean;
  readonly tags: Record<string, string>;
}

/**
 * A VPC of its own: public subnets (the ALB, the single instance) routed to an internet gateway,
 * and optionally private subnets (tasks, database, Redis) whose only way out is a NAT gateway.
 * Subnets are the VPC's range split in sixteen: public ones from the first, private ones from the ninth.
 */
export function createNetwork(name: string, opts: NetworkOptions): Network {
  const tagged = (suffix: string) => ({ ...opts.tags, Name: `${name}-${suffix}` });
  const zones = aws.getAvailabilityZonesOutput({ state: 'available' }).names;
  const zone = (i: number) => zones.apply((names) => {
    const z = names[i];
    if (!z) throw new Error(`this region has ${names.length} availability zones; ${opts.zones} are needed`);
    return z;
  });

  const vpc = new aws.ec2.Vpc(name, { cidrBlock: opts.cidr, enableDnsHostnames: true, enableDnsSupport: true, tags: tagged('vpc') });
  const igw = new aws.ec2.InternetGateway(name, { vpcId: vpc.id, tags: tagged('igw') });
  const publicRoutes = new aws.ec2.RouteTable(`${name}-public`, {
    vpcId: vpc.id,
    routes: [{ cidrBlock: '0.0.0.0/0', gatewayId: igw.id }],
    tags: tagged('public'),
  });

  const publicSubnets: aws.ec2.Subnet[] = [];
  const publicCidrs: string[] = [];
  const privateSubnets: aws.ec2.Subnet[] = [];
  for (let i = 0; i < opts.zones; i++) {
    const publicCidr = cidrSubnet(opts.cidr, 4, i);
    publicCidrs.push(publicCidr);
    const subnet = new aws.ec2.Subnet(`${name}-public-${i}`, {
      vpcId: vpc.id,
      cidrBlock: publicCidr,
      availabilityZone: zone(i),
      // Nothing gets a public address by accident; the single instance has an Elastic IP.
      mapPublicIpOnLaunch: false,
      tags: tagged(`public-${i}`),
    });
    new aws.ec2.RouteTableAssociation(`${name}-public-${i}`, { subnetId: subnet.id, routeTableId: publicRoutes.id });
    publicSubnets.push(subnet);
  }

  if (opts.privateSubnets) {
    const natIp = new aws.ec2.Eip(`${name}-nat`, { domain: 'vpc', tags: tagged('nat') });
    const nat = new aws.ec2.NatGateway(
      name,
      { allocationId: natIp.id, subnetId: publicSubnets[0]!.id, tags: tagged('nat') },
      { dependsOn: [igw] },
    );
    const privateRoutes = new aws.ec2.RouteTable(`${name}-private`, {
      vpcId: vpc.id,
      routes: [{ cidrBlock: '0.0.0.0/0', natGatewayId: nat.id }],
      tags: tagged('private'),
    });
    for (let i = 0; i < opts.zones; i++) {
      const subnet = new aws.ec2.Subnet(`${name}-private-${i}`, {
        vpcId: vpc.id,
        cidrBlock: cidrSubnet(opts.cidr, 4, 8 + i),
        availabilityZone: zone(i),
        mapPublicIpOnLaunch: false,
        tags: tagged(`private-${i}`),
      });
      new aws.ec2.RouteTableAssociation(`${name}-private-${i}`, { subnetId: subnet.id, routeTableId: privateRoutes.id });
      privateSubnets.push(subnet);
    }
  }

  return { vpc, publicSubnets, publicCidrs, privateSubnets };
}
