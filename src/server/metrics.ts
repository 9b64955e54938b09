/** Prometheus metrics at `/metrics`. */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface MetricSources {
  streams(): number;
  oldestOverdueSeconds(): Promise<number>;
  grantsByState(): Promise<{ state: string; n: number }[]>;
  pendingRequests(): Promise<number>;
}

export function createMetrics(src: MetricSources) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'latch_' });
  const http = new Histogram({
    name: 'latch_http_request_duration_seconds', help: 'HTTP request duration by route, method and status',
    labelNames: ['route', 'method', 'status'], buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: [registry],
  });
  new Gauge({ name: 'latch_sse_streams', help: 'Open event streams', registers: [registry], collect() { this.set(src.streams()); } });
  new Gauge({
    name: 'latch_oldest_overdue_grant_seconds', help: 'Age of the oldest live grant past its end (0 while the sweeper keeps up)', registers: [registry],
    async collect() { this.set(await src.oldestOverdueSeconds()); },
  });
  new Gauge({
    name: 'latch_grants', help: 'Grants by state', labelNames: ['state'], registers: [registry],
    async collect() { this.reset(); for (const { state, n } of await src.grantsByState()) this.set({ state }, n); },
  });
  new Gauge({ name: 'latch_pending_requests', help: 'Requests waiting for a decision', registers: [registry], async collect() { this.set(await src.pendingRequests()); } });
  const revokeFailures = new Counter({ name: 'latch_revoke_failures_total', help: 'Failed revoke attempts', registers: [registry] });
  return {
    registry,
    observe(route: string, method: string, status: number, seconds: number) { http.observe({ route, method, status: String(status) }, seconds); },
    revokeFailures,
  };
}
