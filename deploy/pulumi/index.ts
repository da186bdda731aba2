import * as pulumi from '@pulumi/pulumi';
import { deploy } from './src/deploy';

// The stack's outputs: `pulumi stack output`.
export = deploy(new pulumi.Config('latchkey'));
