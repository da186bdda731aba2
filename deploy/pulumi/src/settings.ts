import * as pulumi from '@pulumi/pulumi';
import { parseIpv4Cidr } from './cidr';

/** What the program reads of a stack's configuration (`latchkey:*`); `pulumi.Config` is one. */
export interface ConfigSource {
  get(key: string): string | undefined;
  getObject<T>(key: string): T | undefined;
  getSecret(key: string): pulumi.Output<string> | undefined;
}

export interface SingleSettings {
  readonly shape: 'single';
  readonly vpcCidr: string;
  readonly instanceType: string;
  readonly rootVolumeGb: number;
  /** Where SSH may come from; unset: port 22 stays closed (Session Manager still reaches the instance). */
  readonly sshCidr: string | undefined;
  readonly sshPublicKey: string | undefined;
  readonly repoUrl: string;
  readonly repoRef: string;
  /** Path of the compose file inside the repository. */
  readonly composeFile: string;
  /**
   * https://<host name>: Caddy on the instance gets its certificate and redirects HTTP to it. Unset only
   * in a demo: http://<the instance's Elastic IP>.
   */
  readonly publicUrl: string | undefined;
  /** Latchkey's SMTP_URL, a Pulumi secret. Unset only in a demo: every mail goes to the Mailpit sink. */
  readonly smtpUrl: pulumi.Output<string> | undefined;
  /** Plain HTTP and a mail sink allowed: for trying the stack out, never for users. */
  readonly demo: boolean;
}

export interface ScalableSettings {
  readonly shape: 'scalable';
  readonly vpcCidr: string;
  readonly image: string;
  readonly certificateArn: string;
  readonly sslPolicy: string;
  readonly publicUrl: string;
  readonly desiredCount: number;
  readonly cpu: number;
  readonly memory: number;
  readonly cpuArchitecture: 'X86_64' | 'ARM64';
  readonly workers: string;
  readonly logRetentionDays: number;
  readonly db: {
    readonly instanceClass: string;
    readonly allocatedStorageGb: number;
    readonly engineVersion: string;
    readonly backupRetentionDays: number;
    readonly multiAz: boolean;
    /** A CA bundle inside the image: the connection then verifies RDS's certificate (sslmode=verify-full). */
    readonly caCertPath: string | undefined;
  };
  readonly redis: { readonly nodeType: string; readonly engineVersion: string; readonly nodes: number };
  readonly smtpUrl: pulumi.Output<string> | undefined;
  /** `aws ecs execute-command` into the tasks (the command line): a task role with the Session Manager channels only. */
  readonly ecsExec: boolean;
  /** Further plain settings for Latchkey (CORS_ORIGINS, MAIL_FROM, ...); never a secret. */
  readonly environment: Readonly<Record<string, string>>;
}

export type Settings = SingleSettings | ScalableSettings;

/** Variables that hold secrets: they reach the task from Secrets Manager only, never as plain environment. */
export const SECRET_VARIABLES = ['SECRET_KEY', 'JWT_SECRET_KEY', 'DATABASE_URL', 'REDIS_URL', 'SMTP_URL'] as const;
/** Variables the program sets itself. */
const MANAGED_VARIABLES = ['NODE_ENV', 'HOST', 'PORT', 'PUBLIC_URL', 'TRUST_PROXY', 'WORKERS'];

const FARGATE_CPU = [256, 512, 1024, 2048, 4096, 8192, 16384];
const LOG_RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

/** Reads and checks the stack's configuration; throws one error that lists every problem. */
export function readSettings(config: ConfigSource): Settings {
  const r = new Reader(config);
  const shape = r.get('shape');
  let settings: Settings | undefined;
  if (shape === 'single') settings = readSingle(r);
  else if (shape === 'scalable') settings = readScalable(r);
  else r.problem('shape', `expected single or scalable, got ${shape === undefined ? 'nothing' : `"${shape}"`}`);
  if (r.problems.length > 0 || !settings) {
    throw new pulumi.RunError(`Invalid configuration:\n${r.problems.map((p) => `  - latchkey:${p}`).join('\n')}`);
  }
  return settings;
}

function readSingle(r: Reader): SingleSettings {
  const sshCidr = r.get('sshCidr');
  if (sshCidr !== undefined) {
    const cidr = parseIpv4Cidr(sshCidr);
    if (!cidr) r.problem('sshCidr', `expected an IPv4 CIDR range such as 203.0.113.7/32, got "${sshCidr}"`);
    // SSH open to the world is what this stack exists to prevent: say so rather than open it.
    else if (cidr.prefix === 0) r.problem('sshCidr', 'must not be the whole internet; name your own address or network (x.x.x.x/32)');
  }
  return {
    shape: 'single',
    vpcCidr: r.vpcCidr(),
    instanceType: r.get('instanceType') ?? 't3.small',
    rootVolumeGb: r.integer('rootVolumeGb', 20, 8, 16384),
    sshCidr,
    sshPublicKey: r.get('sshPublicKey'),
    repoUrl: r.required('repoUrl', /^https:\/\/[^\s'"]+$/, 'the https:// address of a Latchkey repository the instance can clone'),
    repoRef: r.matching('repoRef', /^[A-Za-z0-9._][A-Za-z0-9._/-]*$/, 'a branch or tag name', 'main') ?? 'main',
    composeFile: r.relativePath('composeFile', 'deploy/compose.yml'),
    ...readSingleEdges(r),
  };
}

const DEMO_HINT = 'or `pulumi config set demo true` for a demo on plain HTTP that sends every mail to Mailpit';

/** TLS and mail: both required of a stack that users reach, unless `demo: true` says it is not one. */
function readSingleEdges(r: Reader): Pick<SingleSettings, 'publicUrl' | 'smtpUrl' | 'demo'> {
  const demo = r.boolean('demo', false);
  const smtpUrl = r.secret('smtpUrl');
  if (!smtpUrl && !demo)
    r.problem('smtpUrl', `required: where reset mails are sent, a secret (pulumi config set --secret smtpUrl smtps://user:pass@smtp.example.com:465); ${DEMO_HINT}`);
  if (demo) return { demo, smtpUrl, publicUrl: r.url('publicUrl', ['http:', 'https:'], false) };
  if (r.get('publicUrl') === undefined) {
    r.problem('publicUrl', `required: https://<the host name users reach Latchkey at>, whose DNS points at the publicIp output; ${DEMO_HINT}`);
    return { demo, smtpUrl, publicUrl: undefined };
  }
  const publicUrl = r.url('publicUrl', ['https:'], false);
  if (publicUrl?.startsWith('https:') && !isHostOrigin(publicUrl))
    r.problem('publicUrl', `expected https://<a host name> without port or path (Caddy gets its certificate for that name), got "${publicUrl}"`);
  return { demo, smtpUrl, publicUrl };
}

function isHostOrigin(url: string): boolean {
  const u = new URL(url);
  return u.port === '' && u.pathname === '/' && !u.search && !u.username && /^(?=.*[a-z])[a-z0-9-]+(\.[a-z0-9-]+)+$/.test(u.hostname) && !/^[\d.]+$/.test(u.hostname);
}

function readScalable(r: Reader): ScalableSettings {
  const cpu = r.integer('cpu', 512, 256, 16384);
  if (!FARGATE_CPU.includes(cpu)) r.problem('cpu', `expected one of ${FARGATE_CPU.join(', ')}, got ${cpu}`);
  const workers = r.matching('workers', /^(auto|[1-9]\d*)$/, 'auto or a whole number') ?? String(Math.max(1, Math.floor(cpu / 1024)));
  const logRetentionDays = r.integer('logRetentionDays', 30, 1, 3653);
  if (!LOG_RETENTION_DAYS.includes(logRetentionDays))
    r.problem('logRetentionDays', `expected one of CloudWatch's values (${LOG_RETENTION_DAYS.join(', ')}), got ${logRetentionDays}`);
  return {
    shape: 'scalable',
    vpcCidr: r.vpcCidr(),
    image: r.required('image', /^\S+$/, 'a container image such as 123456789012.dkr.ecr.eu-west-1.amazonaws.com/latchkey:1.0.0'),
    certificateArn: r.required('certificateArn', /^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate\/\S+$/, 'the ARN of an ACM certificate'),
    sslPolicy: r.get('sslPolicy') ?? 'ELBSecurityPolicy-TLS13-1-2-2021-06',
    publicUrl: r.url('publicUrl', ['https:'], true) ?? '',
    desiredCount: r.integer('desiredCount', 2, 1, 100),
    cpu,
    memory: r.integer('memory', 1024, 512, 122880),
    cpuArchitecture: (r.matching('cpuArchitecture', /^(X86_64|ARM64)$/, 'X86_64 or ARM64 (the image\'s)', 'X86_64') ?? 'X86_64') as
      | 'X86_64'
      | 'ARM64',
    workers,
    logRetentionDays,
    db: {
      instanceClass: r.get('dbInstanceClass') ?? 'db.t4g.micro',
      allocatedStorageGb: r.integer('dbAllocatedStorageGb', 20, 20, 65536),
      engineVersion: r.matching('dbEngineVersion', /^\d+(\.\d+)?$/, 'a PostgreSQL version such as 16 or 16.4', '16') ?? '16',
      // Seven days is the floor the deployment promises; RDS allows up to 35.
      backupRetentionDays: r.integer('dbBackupRetentionDays', 7, 7, 35),
      multiAz: r.boolean('dbMultiAz', false),
      caCertPath: r.matching('dbCaCertPath', /^\/[A-Za-z0-9._/-]+$/, 'an absolute path inside the image'),
    },
    redis: {
      nodeType: r.get('redisNodeType') ?? 'cache.t4g.micro',
      engineVersion: r.get('redisEngineVersion') ?? '7.1',
      nodes: r.integer('redisNodes', 1, 1, 6),
    },
    smtpUrl: r.secret('smtpUrl'),
    ecsExec: r.boolean('ecsExec', false),
    environment: r.environment(),
  };
}

class Reader {
  readonly problems: string[] = [];
  constructor(private readonly config: ConfigSource) {}

  problem(key: string, message: string): void {
    this.problems.push(`${key}: ${message}`);
  }

  get(key: string): string | undefined {
    const value = this.config.get(key)?.trim();
    return value === '' ? undefined : value;
  }

  secret(key: string): pulumi.Output<string> | undefined {
    return this.config.getSecret(key);
  }

  integer(key: string, fallback: number, min: number, max: number): number {
    const value = this.get(key);
    if (value === undefined) return fallback;
    const n = /^\d+$/.test(value) ? Number(value) : Number.NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      this.problem(key, `expected a whole number from ${min} to ${max}, got "${value}"`);
      return fallback;
    }
    return n;
  }

  boolean(key: string, fallback: boolean): boolean {
    const value = this.get(key)?.toLowerCase();
    if (value === undefined) return fallback;
    if (value === 'true' || value === 'false') return value === 'true';
    this.problem(key, `expected true or false, got "${value}"`);
    return fallback;
  }

  /** The value (or the fallback) if it matches the pattern; undefined when neither is given. */
  matching(key: string, pattern: RegExp, what: string, fallback?: string): string | undefined {
    const value = this.get(key) ?? fallback;
    if (value !== undefined && !pattern.test(value)) this.problem(key, `expected ${what}, got "${value}"`);
    return value;
  }

  /** Like `matching`, and a problem when the key is not set. */
  required(key: string, pattern: RegExp, what: string): string {
    const value = this.get(key);
    if (value === undefined) {
      this.problem(key, `required: ${what} (pulumi config set ${key} ...)`);
      return '';
    }
    return this.matching(key, pattern, what) ?? '';
  }

  url(key: string, protocols: string[], required: boolean): string | undefined {
    const value = this.get(key);
    if (value === undefined) {
      if (required) this.problem(key, `required: the ${protocols.join(' or ')}// address users reach Latchkey at`);
      return undefined;
    }
    let ok = false;
    try {
      ok = protocols.includes(new URL(value).protocol);
    } catch {
      ok = false;
    }
    if (!ok) this.problem(key, `expected a ${protocols.join(' or ')}// URL, got "${value}"`);
    return value.replace(/\/+$/, '');
  }

  relativePath(key: string, fallback: string): string {
    const value = this.get(key) ?? fallback;
    if (!/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/.test(value) || value.split('/').includes('..'))
      this.problem(key, `expected a path inside the repository such as ${fallback}, got "${value}"`);
    return value;
  }

  vpcCidr(): string {
    const value = this.get('vpcCidr') ?? '10.0.0.0/16';
    const cidr = parseIpv4Cidr(value);
    if (!cidr || cidr.prefix < 16 || cidr.prefix > 24)
      this.problem('vpcCidr', `expected a private IPv4 range from /16 to /24 such as 10.0.0.0/16, got "${value}"`);
    return value;
  }

  environment(): Record<string, string> {
    const value = this.config.getObject<unknown>('environment') ?? {};
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      this.problem('environment', 'expected an object of NAME: value pairs');
      return {};
    }
    const out: Record<string, string> = {};
    for (const [name, v] of Object.entries(value)) {
      if (!/^[A-Z][A-Z0-9_]*$/.test(name)) this.problem('environment', `"${name}" is not an environment variable name`);
      else if ((SECRET_VARIABLES as readonly string[]).includes(name))
        this.problem('environment', `${name} is a secret: the stack keeps it in Secrets Manager and never as plain environment`);
      else if (MANAGED_VARIABLES.includes(name)) this.problem('environment', `${name} is set by the stack itself`);
      else if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean')
        this.problem('environment', `${name}: expected a string, got ${JSON.stringify(v)}`);
      else out[name] = String(v);
    }
    return out;
  }
}
