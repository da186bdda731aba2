import { AggregatorRegistry, type Registry } from 'prom-client';
import type { ScrapeSource } from './server.js';

/**
 * With WORKERS > 1 the supervising process serves METRICS_PORT: each scrape asks every server process
 * for its registry over the cluster's IPC channel and answers one sum (gauges of shared state take the
 * largest value, event loop figures the mean). A process that does not answer within 5 s fails the scrape.
 */
export function clusterScrapeSource(): ScrapeSource {
  const aggregator = new AggregatorRegistry();
  return { contentType: aggregator.contentType, collect: () => aggregator.clusterMetrics() };
}

/** In a server process of a cluster: answer the supervisor's requests with this registry. */
export function answerClusterScrapes(registry: Registry): void {
  AggregatorRegistry.setRegistries([registry]);
  // Constructing one installs the listener for the supervisor's requests.
  new AggregatorRegistry();
}
