import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import * as random from '@pulumi/random';

/** A random string of letters and digits: safe inside a URL, a shell word and a Redis AUTH token. */
export function randomSecret(name: string, length: number): pulumi.Output<string> {
  return new random.RandomPassword(name, { length, special: false }).result;
}

/** A Secrets Manager secret holding one value, for ECS to inject into the task as an environment variable. */
export function storedSecret(name: string, description: string, value: pulumi.Input<string>, tags: Record<string, string>) {
  const secret = new aws.secretsmanager.Secret(name, { description, tags });
  const version = new aws.secretsmanager.SecretVersion(name, { secretId: secret.id, secretString: pulumi.secret(value) });
  return { secret, version };
}
