import { relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * Longest files first, across projects. Vitest's own order runs one project's files before the next's, so
 * with both engines in one run (vitest.config.ts) the PostgreSQL project's slow process tests started last
 * and ran alone at the end. Durations come from Vitest's cache of the last run (.ci/run keeps it between
 * runs); a file with none is placed by its size, larger first, as Vitest does.
 */
export default class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const cache = this.ctx.cache;
    const key = (spec: TestSpecification) => `${spec.project.name}:${relative(this.ctx.config.root, spec.moduleId)}`;
    // Known durations in ms; an unknown file counts as 1 ms per 30 bytes, so the largest files still lead.
    const cost = (spec: TestSpecification) => cache.getFileTestResults(key(spec))?.duration ?? (cache.getFileStats(key(spec))?.size ?? 0) / 30;
    const costs = new Map(files.map((spec) => [spec, cost(spec)]));
    return [...files].sort((a, b) => costs.get(b)! - costs.get(a)!);
  }
}
