import { posix } from 'node:path';
import { DockerfileParser, type Copy, type From, type Instruction, type JSONInstruction, type PropertyInstruction } from 'dockerfile-ast';

export interface Stage {
  /** The name given with `AS`, if any. */
  name: string | undefined;
  from: From;
  instructions: Instruction[];
}

/** A Dockerfile's build stages, each with the instructions from its FROM to the next. */
export function readStages(text: string): Stage[] {
  const stages: Stage[] = [];
  for (const instruction of DockerfileParser.parse(text).getInstructions()) {
    if (instruction.getKeyword() === 'FROM') {
      const from = instruction as From;
      stages.push({ name: from.getBuildStage() ?? undefined, from, instructions: [] });
    } else {
      stages.at(-1)?.instructions.push(instruction);
    }
  }
  return stages;
}

export function instructionsOf(stage: Stage, keyword: string): Instruction[] {
  return stage.instructions.filter((i) => i.getKeyword() === keyword);
}

/** The words of a RUN, CMD or similar as written (shell form), or the strings of its exec form. */
export function words(instruction: Instruction): string[] {
  return instruction.getArguments().map((a) => a.getValue());
}

/** CMD or ENTRYPOINT in exec form; throws on shell form, where `/bin/sh -c` would take the signals. */
export function execForm(instruction: Instruction): string[] {
  const strings = (instruction as JSONInstruction).getJSONStrings();
  if (strings.length === 0) throw new Error(`${instruction.getKeyword()} is not in exec form: ${instruction.toString()}`);
  return strings.map((s) => s.getJSONValue());
}

/** The command of `HEALTHCHECK [options] CMD [...]`, in exec form. */
export function healthcheckCommand(instruction: Instruction): string[] {
  const match = /\bCMD\s+(\[[\s\S]*\])\s*$/.exec(instruction.getArgumentsContent() ?? '');
  if (!match) throw new Error(`HEALTHCHECK without an exec-form CMD: ${instruction.toString()}`);
  return JSON.parse(match[1]!) as string[];
}

/** The variables ENV (or ARG) sets in a stage, in order. */
export function properties(stage: Stage, keyword: 'ENV' | 'ARG'): Record<string, string> {
  const result: Record<string, string> = {};
  for (const instruction of instructionsOf(stage, keyword))
    for (const p of (instruction as PropertyInstruction).getProperties()) result[p.getName()] = p.getValue() ?? '';
  return result;
}

export interface CopyStep {
  /** The stage copied from (`--from`), or undefined for the build context. */
  from: string | undefined;
  sources: string[];
  destination: string;
}

export function copiesOf(stage: Stage): CopyStep[] {
  return instructionsOf(stage, 'COPY').map((instruction) => {
    const copy = instruction as Copy;
    const args = copy.getArguments().map((a) => a.getValue()).filter((a) => !a.startsWith('--'));
    return { from: copy.getFromFlag()?.getValue() ?? undefined, sources: args.slice(0, -1), destination: args.at(-1)! };
  });
}

/** Docker's PATH for a container whose image sets none (the node images set none). */
export const DOCKER_DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The PATH a stage's containers run with: its last `ENV PATH=`, with `$PATH` read as the one before. */
export function pathOf(stage: Stage): string[] {
  let path = DOCKER_DEFAULT_PATH;
  for (const instruction of instructionsOf(stage, 'ENV'))
    for (const p of (instruction as PropertyInstruction).getProperties())
      if (p.getName() === 'PATH') path = (p.getValue() ?? '').replace(/\$\{PATH\}|\$PATH\b/g, path);
  return path.split(':').filter(Boolean);
}

/** The symbolic links a stage's RUN instructions make with `ln -s[f] TARGET LINK`, link to target. */
export function symlinksOf(stage: Stage): Map<string, string> {
  const links = new Map<string, string>();
  for (const instruction of instructionsOf(stage, 'RUN')) {
    const text = words(instruction).join(' ');
    for (const [, target, link] of text.matchAll(/\bln\s+-s[f]?\s+(\S+)\s+(\S+)/g)) links.set(link!, target!);
  }
  return links;
}

/** Where a path of the final image comes from: the COPY that places it, and the source path inside it. */
export function copiedTo(stage: Stage, workdir: string, path: string): { copy: CopyStep; source: string } | undefined {
  const absolute = posix.resolve(workdir, path);
  for (const copy of copiesOf(stage).reverse()) {
    const destination = posix.resolve(workdir, copy.destination);
    const intoFolder = copy.destination.endsWith('/') || copy.sources.length > 1;
    for (const source of copy.sources) {
      const placed = intoFolder ? posix.join(destination, posix.basename(source)) : destination;
      if (absolute === placed || absolute.startsWith(`${placed}/`)) return { copy, source: posix.join(source, posix.relative(placed, absolute)) };
    }
  }
  return undefined;
}
