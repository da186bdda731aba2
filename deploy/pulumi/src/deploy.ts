import * as pulumi from '@pulumi/pulumi';
import { scalable } from './scalable';
import { readSettings, type ConfigSource } from './settings';
import { single } from './single';

/** Reads the stack's configuration and builds the shape it names (`latchkey:shape`). */
export function deploy(config: ConfigSource): Record<string, unknown> {
  const settings = readSettings(config);
  const tags = { Project: 'latchkey', Stack: pulumi.getStack() };
  return settings.shape === 'single' ? single(settings, tags) : scalable(settings, tags);
}
