// The request-duration histogram is Latchkey's own (prom-client's costs the dashboard a tenth of its time):
// these tests hold it to prom-client's Histogram, fed the same observations, as the reference.
import { AggregatorRegistry, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { RequestHistogram } from '../../src/metrics/request-histogram.js';

const BOUNDS = [0.001, 0.01, 0.1, 1];
const NAME = 'latchkey_http_request_duration_seconds';
const HELP = 'Time to answer an HTTP request.';

type Observation = [method: string, route: string, status: number, seconds: number];
const OBSERVATIONS: Observation[] = [
  ['GET', '/api/dashboard', 200, 0.0004],
  ['GET', '/api/dashboard', 200, 0.001], // on a bound: counted in that bucket, as Prometheus defines `le`
  ['GET', '/api/dashboard', 200, 0.05],
  ['GET', '/api/dashboard', 401, 0.002],
  ['POST', '/api/signin', 200, 0.3],
  ['POST', '/api/signin', 401, 7], // above every bound: only in +Inf
  ['GET', 'unmatched', 404, 0.0001],
];

function both(observations: Observation[]) {
  const ours = new Registry();
  const reference = new Registry();
  const histogram = new RequestHistogram(NAME, HELP, BOUNDS, 1_000, 'unmatched', [ours]);
  const prom = new Histogram({ name: NAME, help: HELP, labelNames: ['method', 'route', 'status_code'], buckets: BOUNDS, registers: [reference] });
  for (const [method, route, status_code, seconds] of observations) {
    histogram.observe(method, route, status_code, seconds);
    prom.observe({ method, route, status_code }, seconds);
  }
  return { ours, reference, histogram };
}

const lines = (text: string) => text.split('\n').filter(Boolean).sort();

describe('request histogram', () => {
  it('writes the same exposition text as prom-client for the same observations', async () => {
    const { ours, reference } = both(OBSERVATIONS);
    const text = await ours.metrics();
    expect(lines(text)).toEqual(lines(await reference.metrics()));
    expect(text).toContain(`${NAME}_bucket{le="0.001",method="GET",route="/api/dashboard",status_code="200"} 2`);
    expect(text).toContain(`${NAME}_bucket{le="1",method="POST",route="/api/signin",status_code="401"} 0`);
    expect(text).toContain(`${NAME}_bucket{le="+Inf",method="POST",route="/api/signin",status_code="401"} 1`);
  });

  it('is summed across server processes like any prom-client histogram', async () => {
    const a = both(OBSERVATIONS.slice(0, 4));
    const b = both(OBSERVATIONS);
    const ourSum = await AggregatorRegistry.aggregate([await a.ours.getMetricsAsJSON(), await b.ours.getMetricsAsJSON()]).metrics();
    const referenceSum = await AggregatorRegistry.aggregate([await a.reference.getMetricsAsJSON(), await b.reference.getMetricsAsJSON()]).metrics();
    expect(lines(ourSum)).toEqual(lines(referenceSum));
    expect(ourSum).toContain(`${NAME}_count{method="GET",route="/api/dashboard",status_code="200"} 6`);
  });

  it('keeps the label combinations bounded: past the cap, new ones count under the overflow route', async () => {
    const registry = new Registry();
    const histogram = new RequestHistogram(NAME, HELP, BOUNDS, 2, 'unmatched', [registry]);
    histogram.observe('GET', '/a', 200, 0.01);
    histogram.observe('GET', '/b', 200, 0.01);
    for (let i = 0; i < 100; i++) histogram.observe('GET', `/many/${i}`, 200, 0.01);
    const counts = (await registry.metrics()).split('\n').filter((l) => l.startsWith(`${NAME}_count`));
    expect(counts.sort()).toEqual([
      `${NAME}_count{method="GET",route="/a",status_code="200"} 1`,
      `${NAME}_count{method="GET",route="/b",status_code="200"} 1`,
      `${NAME}_count{method="GET",route="unmatched",status_code="200"} 100`,
    ]);
  });

  it('ignores a value that is not a finite number rather than corrupt the sum', async () => {
    const registry = new Registry();
    const histogram = new RequestHistogram(NAME, HELP, BOUNDS, 10, 'unmatched', [registry]);
    histogram.observe('GET', '/a', 200, Number.NaN);
    histogram.observe('GET', '/a', 200, 0.5);
    const text = await registry.metrics();
    expect(text).toContain(`${NAME}_sum{method="GET",route="/a",status_code="200"} 0.5`);
    expect(text).toContain(`${NAME}_count{method="GET",route="/a",status_code="200"} 1`);
  });

  it('starts over on a registry reset', async () => {
    const { ours } = both(OBSERVATIONS);
    ours.resetMetrics();
    expect(await ours.metrics()).not.toContain(`${NAME}_count`);
  });
});
