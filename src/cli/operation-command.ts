import { Command } from 'commander';
import type { OperationArgs, OperationName, OperationResult } from '../control/operations.js';
import type { CliContext } from './context.js';
import { printJson } from './output.js';

type Options = Record<string, unknown> & { json?: boolean };

/** A subcommand that runs one operation of the registry and prints its result. */
export interface OperationCommand<N extends OperationName, O extends Options> {
  name: string;
  description: string;
  /** Its one positional argument, if any: `[name, description]` (`<user>`, or `[id]` when optional). */
  argument?: [string, string];
  /** What `--json` prints, for its help line. */
  json: string;
  /** Adds the command's own options. */
  options?: (command: Command) => Command;
  op: N;
  /** The operation's arguments from the command line; a usage error may be thrown here, before anything opens. */
  args: (argument: string | undefined, opts: O) => OperationArgs<N> | Promise<OperationArgs<N>>;
  /** Prints the result for a person (a table, a line). */
  print: (result: OperationResult<N>, opts: O) => void;
  /** Prints the result for a program (`--json`); the result as JSON unless said otherwise. */
  printJson?: (result: OperationResult<N>) => void;
}

/** Adds a subcommand that runs one operation, with `--json`, to `parent`. */
export function addOperationCommand<N extends OperationName, O extends Options>(parent: Command, ctx: CliContext, spec: OperationCommand<N, O>): Command {
  let command = parent.command(spec.name).description(spec.description);
  if (spec.argument) command = command.argument(...spec.argument);
  command = (spec.options ? spec.options(command) : command).option('--json', spec.json);
  return command.action(async (...params: unknown[]) => {
    const opts = (params.at(-1) as Command).opts<O>();
    const argument = spec.argument ? (params[0] as string | undefined) : undefined;
    const result = await ctx.run(spec.op, await spec.args(argument, opts));
    if (!opts.json) spec.print(result, opts);
    else if (spec.printJson) spec.printJson(result);
    else printJson(result);
  });
}
