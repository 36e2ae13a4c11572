// The pull-through cache's Prometheus metrics, registered on the process's registry.
import { Counter, type Registry } from 'prom-client';

export interface ProxyMetrics {
  upstreamRequests: Counter<'prefix' | 'method' | 'outcome'>;
  staleServed: Counter<'prefix' | 'reason'>;
  cached: Counter<'prefix' | 'kind'>;
}

export function proxyMetrics(registry: Registry): ProxyMetrics {
  return {
    upstreamRequests: new Counter({
      name: 'berth_proxy_upstream_requests_total',
      help: 'Requests the pull-through cache sent upstream, by prefix, method and outcome (status, or unreachable)',
      labelNames: ['prefix', 'method', 'outcome'] as const,
      registers: [registry],
    }),
    staleServed: new Counter({
      name: 'berth_proxy_stale_served_total',
      help: 'Cached tags served although the upstream could not confirm them, by prefix and upstream answer',
      labelNames: ['prefix', 'reason'] as const,
      registers: [registry],
    }),
    cached: new Counter({
      name: 'berth_proxy_cached_total',
      help: 'Manifests and blobs fetched from an upstream and stored, by prefix and kind',
      labelNames: ['prefix', 'kind'] as const,
      registers: [registry],
    }),
  };
}
