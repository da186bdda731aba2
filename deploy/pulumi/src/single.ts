import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { createNetwork } from './network';
import type { SingleSettings } from './settings';
import { singleUserData } from './user-data';

const DEMO_WARNING =
  'DEMO: latchkey:demo is true. This stack serves plain HTTP (passwords and tokens cross the network in clear) and sends ' +
  'every mail, reset links included, to the Mailpit sink on the instance. Never let users reach it: set publicUrl ' +
  '(https://<host name>) and a secret smtpUrl, and remove demo.';

/** Canonical's account, which publishes the Ubuntu images. */
const CANONICAL = '099720109477';

/**
 * One EC2 instance running the compose stack (Latchkey, PostgreSQL, Redis, pgAdmin, a mail sink).
 * From the internet only 80 and 443 reach it; SSH only from `sshCidr`; the database's and pgAdmin's
 * ports never (reach pgAdmin through an SSH or Session Manager tunnel). Caddy terminates TLS for
 * `publicUrl`'s host and mail goes to `smtpUrl`, unless `demo` allows plain HTTP and the Mailpit sink.
 */
export function single(settings: SingleSettings, tags: Record<string, string>) {
  const name = 'latchkey';
  const network = createNetwork(name, { cidr: settings.vpcCidr, zones: 1, privateSubnets: false, tags });

  const ingress: aws.types.input.ec2.SecurityGroupIngress[] = [
    { description: 'HTTP', protocol: 'tcp', fromPort: 80, toPort: 80, cidrBlocks: ['0.0.0.0/0'] },
    { description: 'HTTPS', protocol: 'tcp', fromPort: 443, toPort: 443, cidrBlocks: ['0.0.0.0/0'] },
  ];
  if (settings.sshCidr) ingress.push({ description: 'SSH', protocol: 'tcp', fromPort: 22, toPort: 22, cidrBlocks: [settings.sshCidr] });
  const securityGroup = new aws.ec2.SecurityGroup(name, {
    description: 'Latchkey single instance: web from anywhere, SSH from one range',
    vpcId: network.vpc.id,
    ingress,
    // Image pulls, packages, the repository, SMTP: the instance goes where it needs to.
    egress: [{ description: 'All outbound', protocol: '-1', fromPort: 0, toPort: 0, cidrBlocks: ['0.0.0.0/0'] }],
    tags: { ...tags, Name: name },
  });

  // Session Manager: a shell and port forwarding (pgAdmin) without opening port 22 at all.
  const role = new aws.iam.Role(name, {
    assumeRolePolicy: aws.iam.assumeRolePolicyForPrincipal({ Service: 'ec2.amazonaws.com' }),
    tags,
  });
  new aws.iam.RolePolicyAttachment(`${name}-ssm`, {
    role: role.name,
    policyArn: 'arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore',
  });
  const profile = new aws.iam.InstanceProfile(name, { role: role.name, tags });
  const smtpUrlParameter = settings.smtpUrl ? storeSmtpUrl(name, settings.smtpUrl, role, tags) : undefined;

  const keyPair = settings.sshPublicKey
    ? new aws.ec2.KeyPair(name, { publicKey: settings.sshPublicKey, tags })
    : undefined;

  const arm = /^[a-z]+\d+[a-z]*g[a-z]*\./.test(settings.instanceType);
  const ami = aws.ec2.getAmiOutput({
    owners: [CANONICAL],
    mostRecent: true,
    filters: [
      { name: 'name', values: [`ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-${arm ? 'arm64' : 'amd64'}-server-*`] },
      { name: 'virtualization-type', values: ['hvm'] },
    ],
  });

  // The address comes first, so that PUBLIC_URL can name it and it outlives a replaced instance.
  const ip = new aws.ec2.Eip(name, { domain: 'vpc', tags: { ...tags, Name: name } });
  const publicUrl = settings.publicUrl ?? pulumi.interpolate`http://${ip.publicIp}`;
  const tlsDomain = settings.demo ? undefined : new URL(settings.publicUrl!).hostname;
  const region = aws.getRegionOutput().region;

  const instance = new aws.ec2.Instance(
    name,
    {
      ami: ami.id,
      instanceType: settings.instanceType,
      subnetId: network.publicSubnets[0]!.id,
      vpcSecurityGroupIds: [securityGroup.id],
      iamInstanceProfile: profile.name,
      keyName: keyPair?.keyName,
      // IMDSv2 only, and one hop: the containers cannot reach the metadata service or its credentials.
      metadataOptions: { httpEndpoint: 'enabled', httpTokens: 'required', httpPutResponseHopLimit: 1 },
      rootBlockDevice: { encrypted: true, volumeType: 'gp3', volumeSize: settings.rootVolumeGb, deleteOnTermination: true },
      userData: pulumi.all([publicUrl, smtpUrlParameter?.name, region]).apply(([url, parameter, region]) =>
        singleUserData({
          repoUrl: settings.repoUrl,
          repoRef: settings.repoRef,
          composeFile: settings.composeFile,
          publicUrl: url,
          tlsDomain,
          smtpUrlParameter: parameter ? { name: parameter, region } : undefined,
        }),
      ),
      tags: { ...tags, Name: name },
    },
    // A newer Ubuntu image must not replace the instance: its disk holds the database.
    { ignoreChanges: ['ami'] },
  );
  new aws.ec2.EipAssociation(name, { instanceId: instance.id, allocationId: ip.allocationId });

  if (settings.demo) pulumi.log.warn(DEMO_WARNING);
  return {
    ...(settings.demo ? { warning: DEMO_WARNING } : {}),
    publicIp: ip.publicIp,
    publicUrl,
    instanceId: instance.id,
    ssh: settings.sshCidr ? pulumi.interpolate`ssh ubuntu@${ip.publicIp}` : undefined,
    sessionManager: pulumi.interpolate`aws ssm start-session --target ${instance.id}`,
    pgAdminTunnel: pulumi.interpolate`aws ssm start-session --target ${instance.id} --document-name AWS-StartPortForwardingSession --parameters portNumber=5050,localPortNumber=5050`,
  };
}

/**
 * The SMTP URL as an encrypted SSM parameter that the instance's role alone may read: like the other
 * secrets, it never passes through user data, which the EC2 API hands out.
 */
function storeSmtpUrl(name: string, smtpUrl: pulumi.Output<string>, role: aws.iam.Role, tags: Record<string, string>) {
  const parameter = new aws.ssm.Parameter(`${name}-smtp-url`, {
    type: 'SecureString',
    value: pulumi.secret(smtpUrl),
    description: 'Latchkey SMTP_URL, read by the instance at boot',
    tags,
  });
  new aws.iam.RolePolicy(`${name}-smtp-url`, {
    role: role.id,
    policy: pulumi.jsonStringify({
      Version: '2012-10-17',
      Statement: [{ Sid: 'ReadSmtpUrl', Effect: 'Allow', Action: ['ssm:GetParameter'], Resource: parameter.arn }],
    }),
  });
  return parameter;
}
