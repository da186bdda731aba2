import type { Metric, Registry } from 'prom-client';

type Labels = { method: string; route: string; status_code: number };

interface Series {
  labels: Labels;
  /** Observations per bucket, not cumulative: index i counts values in (bound[i-1], bound[i]]; the last one, above every bound. */
  counts: Float64Array;
  sum: number;
  count: number;
}

/**
 * The request-duration histogram, fed on every answer. prom-client's own Histogram hashes the labels and
 * turns each bucket bound into a string key on every observation, which the bench measured at about a tenth
 * of the dashboard route's CPU time. Here an observation is a Map look-up and two array writes; a scrape
 * reads the series in the form prom-client's histograms export, so the registry writes the text format and
 * the cluster's aggregator sums the server processes' values as it does for any histogram.
 */
export class RequestHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private series = new Map<string, Series>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly bounds: readonly number[],
    /** Beyond this many label combinations, new ones are counted under the route `overflowRoute`. */
    private readonly maxSeries: number,
    private readonly overflowRoute: string,
    registers: Registry[],
  ) {
    // The registry calls get() (or getForPromString()) and reset(), and nothing else, on what it holds.
    for (const registry of registers) registry.registerMetric(this as unknown as Metric);
  }

  observe(method: string, route: string, statusCode: number, seconds: number): void {
    if (!Number.isFinite(seconds)) return;
    const key = `${method} ${route} ${statusCode}`;
    let series = this.series.get(key);
    if (!series) {
      if (this.series.size >= this.maxSeries && route !== this.overflowRoute) return this.observe(method, this.overflowRoute, statusCode, seconds);
      series = { labels: { method, route, status_code: statusCode }, counts: new Float64Array(this.bounds.length + 1), sum: 0, count: 0 };
      this.series.set(key, series);
    }
    let i = 0;
    while (i < this.bounds.length && seconds > this.bounds[i]!) i++;
    series.counts[i]! += 1;
    series.sum += seconds;
    series.count += 1;
  }

  async get() {
    const bucket = `${this.name}_bucket`;
    const values: { metricName: string; labels: Record<string, string | number>; value: number }[] = [];
    for (const { labels, counts, sum, count } of this.series.values()) {
      let cumulative = 0;
      this.bounds.forEach((le, i) => {
        cumulative += counts[i]!;
        values.push({ metricName: bucket, labels: { le, ...labels }, value: cumulative });
      });
      values.push({ metricName: bucket, labels: { le: '+Inf', ...labels }, value: count });
      values.push({ metricName: `${this.name}_sum`, labels: { ...labels }, value: sum });
      values.push({ metricName: `${this.name}_count`, labels: { ...labels }, value: count });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    this.series = new Map();
  }
}
