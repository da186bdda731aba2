// The part of newman's Node API that postman/run.ts uses (newman ships no type declarations).
declare module 'newman' {
  import type { EventEmitter } from 'node:events';
  import type { Agent } from 'node:http';

  export interface RunOptions {
    /** A path or URL of a collection file, or the collection itself. */
    collection: string | object;
    environment?: string | object;
    envVar?: { key: string; value: string }[];
    /** Run only these folders (or requests), by name. */
    folder?: string | string[];
    reporters?: string | string[];
    reporter?: Record<string, unknown>;
    requestAgents?: { http?: Agent; https?: Agent };
    timeoutRequest?: number;
    color?: 'on' | 'off' | 'auto';
  }

  export interface Stat {
    total: number;
    failed: number;
    pending: number;
  }

  export interface Execution {
    item: { name: string };
    request?: { method: string; url: { toString(): string } };
    response?: { code: number; status: string; text(): string };
    requestError?: Error;
    assertions?: { assertion: string; skipped: boolean; error?: Error }[];
  }

  export interface Failure {
    error: { name?: string; message: string; test?: string };
    at: string;
    source?: { name: string };
  }

  export interface NewmanRunSummary {
    error?: Error;
    environment: { toObject(): Record<string, unknown> };
    run: {
      stats: Record<'iterations' | 'items' | 'requests' | 'testScripts' | 'prerequestScripts' | 'assertions', Stat>;
      executions: Execution[];
      failures: Failure[];
    };
  }

  export function run(options: RunOptions, callback: (err: Error | null, summary: NewmanRunSummary) => void): EventEmitter;

  const newman: { run: typeof run };
  export default newman;
}
