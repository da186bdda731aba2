import { SingleBar } from 'cli-progress';

export interface Progress {
  /** Counts `n` more items done (1 by default). */
  increment(n?: number): void;
  /** Ends the bar (or writes the last line) once every item is done or the work stopped. */
  stop(): void;
}

export interface ProgressOptions {
  /** What is counted, as in "users": shown as "label 120/1000". */
  label: string;
  total: number;
  /** Standard error by default: standard output stays for data. */
  stream?: NodeJS.WriteStream;
}

/**
 * A progress bar for long commands (`users import`). On a terminal it redraws one line; anywhere else
 * (a pipe, a log file, CI) it writes a plain line at every tenth of the way and at the end, so logs stay
 * readable; with no total (0: a database import), the count alone, at the end.
 */
export function startProgress(opts: ProgressOptions): Progress {
  const stream = opts.stream ?? process.stderr;
  let done = 0;
  // A total of 0 is unknown (a database import counts as it goes): the count is shown alone, never "2/0".
  const known = opts.total > 0;
  const count = () => (known ? `${done}/${opts.total}` : `${done}`);
  if (stream.isTTY) {
    const bar = new SingleBar({
      stream,
      format: known ? `${opts.label} [{bar}] {value}/{total} {percentage}% | ETA {eta_formatted}` : `${opts.label} {value}`,
      hideCursor: true,
      clearOnComplete: false,
    });
    bar.start(opts.total, 0);
    return {
      increment(n = 1) {
        done += n;
        bar.increment(n);
      },
      stop: () => bar.stop(),
    };
  }
  let lastTenth = 0;
  let stopped = false;
  return {
    increment(n = 1) {
      done += n;
      const tenth = opts.total > 0 ? Math.floor((done * 10) / opts.total) : 0;
      if (tenth > lastTenth && done < opts.total) {
        lastTenth = tenth;
        stream.write(`${opts.label} ${count()}\n`);
      }
    },
    stop() {
      if (stopped) return;
      stopped = true;
      stream.write(`${opts.label} ${count()}\n`);
    },
  };
}
