// Berth's Prometheus metrics: one Registry per process (per app in tests), created once and passed
// down like any other dependency. Other parts report through the small methods below
// (recordGc, recordAuthFailure) so metric names and labels are spelled in one place.
import type pg from 'pg';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Request durations from a cached manifest HEAD (~1 ms) to a multi-GiB layer push (minutes). */
const HTTP_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
const STORE_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120];

export interface GcResult {
  outcome: 'success' | 'failure';
  durationSeconds: number;
  deletedBlobs?: number;
  deletedManifests?: number;
  freedBytes?: number;
}

/** Why a request was refused by authentication; a closed set keeps the label bounded. */
export type AuthFailureReason = 'missing_credentials' | 'bad_credentials' | 'invalid_token' | 'insufficient_scope' | 'denied' | 'rate_limited';

export class Metrics {
  readonly registry = new Registry();

  readonly httpRequests = new Counter({
    name: 'berth_http_requests_total',
    help: 'HTTP requests answered, by method, route template and status (499: the client closed the connection first)',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });
  readonly httpDuration = new Histogram({
    name: 'berth_http_request_duration_seconds',
    help: 'Time from request start until the response ended, by method, route template and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: HTTP_BUCKETS,
    registers: [this.registry],
  });
  readonly bytesReceived = new Counter({
    name: 'berth_http_received_bytes_total',
    help: 'Bytes read from clients (on the connection, headers included), by route template',
    labelNames: ['route'] as const,
    registers: [this.registry],
  });
  readonly bytesSent = new Counter({
    name: 'berth_http_sent_bytes_total',
    help: 'Bytes written to clients (on the connection, headers included), by route template',
    labelNames: ['route'] as const,
    registers: [this.registry],
  });
  readonly uploadsInFlight = new Gauge({
    name: 'berth_uploads_in_progress',
    help: 'Upload requests (POST with a body, PATCH, PUT) streaming into this process right now',
    registers: [this.registry],
  });
  readonly httpAborted = new Counter({
    name: 'berth_http_requests_aborted_total',
    help: 'Requests the client abandoned (closed the connection) before the response ended, by method and route template; not server faults',
    labelNames: ['method', 'route'] as const,
    registers: [this.registry],
  });
  readonly storageFreeBytes = new Gauge({
    name: 'berth_storage_free_bytes',
    help: 'Free bytes (for unprivileged users) on the filesystem of each directory the free-space reserve watches',
    labelNames: ['dir'] as const,
    registers: [this.registry],
  });
  readonly storageReserveBytes = new Gauge({
    name: 'berth_storage_reserve_bytes',
    help: 'The free-space reserve (BERTH_MIN_FREE_SPACE) of each watched directory, in bytes',
    labelNames: ['dir'] as const,
    registers: [this.registry],
  });
  readonly storageBelowReserve = new Gauge({
    name: 'berth_storage_below_reserve',
    help: '1 while a watched filesystem has less free space than the reserve and new uploads are refused',
    registers: [this.registry],
  });
  readonly uploadsRefused = new Counter({
    name: 'berth_uploads_refused_total',
    help: 'Upload requests refused up front, by reason (free_space_reserve)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly storeDuration = new Histogram({
    name: 'berth_blob_store_operation_duration_seconds',
    help: 'Blob store operation latency, by operation and outcome',
    labelNames: ['operation', 'outcome'] as const,
    buckets: STORE_BUCKETS,
    registers: [this.registry],
  });
  readonly storeErrors = new Counter({
    name: 'berth_blob_store_errors_total',
    help: 'Blob store operations that failed, by operation and kind (unavailable, full, not_found, aborted, error)',
    labelNames: ['operation', 'kind'] as const,
    registers: [this.registry],
  });
  readonly gcRuns = new Counter({
    name: 'berth_gc_runs_total',
    help: 'Garbage collection runs, by outcome',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly gcDeletedBlobs = new Counter({
    name: 'berth_gc_deleted_blobs_total',
    help: 'Blobs deleted by garbage collection',
    registers: [this.registry],
  });
  readonly gcDeletedManifests = new Counter({
    name: 'berth_gc_deleted_manifests_total',
    help: 'Manifests deleted by garbage collection',
    registers: [this.registry],
  });
  readonly gcFreedBytes = new Counter({
    name: 'berth_gc_freed_bytes_total',
    help: 'Bytes of blob storage freed by garbage collection',
    registers: [this.registry],
  });
  readonly gcDuration = new Histogram({
    name: 'berth_gc_duration_seconds',
    help: 'Duration of garbage collection runs',
    buckets: [0.1, 1, 10, 60, 300, 1800, 7200],
    registers: [this.registry],
  });
  readonly authFailures = new Counter({
    name: 'berth_auth_failures_total',
    help: 'Requests refused for missing or bad credentials or insufficient scope, by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly webhookDeliveries = new Counter({
    name: 'berth_webhook_deliveries_total',
    help: 'Webhook delivery attempts, by outcome (delivered, retry, failed, dropped)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly webhookQueue = new Gauge({
    name: 'berth_webhook_queue_length',
    help: 'Webhook deliveries waiting to be sent or retried',
    registers: [this.registry],
  });

  constructor(options: { processMetrics?: boolean } = {}) {
    // Node's own (heap, event loop lag, CPU, open fds): off in tests, which build many apps.
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: 'berth_' });
  }

  /** Reports the pools' connections at every scrape: total, idle and clients waiting for one. */
  watchPools(pools: Record<string, pg.Pool>): void {
    const entries = Object.entries(pools);
    new Gauge({
      name: 'berth_db_pool_connections',
      help: 'PostgreSQL pool connections, by pool and state (total, idle, waiting clients)',
      labelNames: ['pool', 'state'] as const,
      registers: [this.registry],
      collect() {
        for (const [name, pool] of entries) {
          this.set({ pool: name, state: 'total' }, pool.totalCount);
          this.set({ pool: name, state: 'idle' }, pool.idleCount);
          this.set({ pool: name, state: 'waiting' }, pool.waitingCount);
        }
      },
    });
    new Gauge({
      name: 'berth_db_pool_max_connections',
      help: 'Upper bound of each PostgreSQL pool',
      labelNames: ['pool'] as const,
      registers: [this.registry],
      collect() {
        for (const [name, pool] of entries) this.set({ pool: name }, pool.options.max ?? 10);
      },
    });
  }

  /** For the garbage collector (issue 6): one call per run. */
  recordGc(result: GcResult): void {
    this.gcRuns.inc({ outcome: result.outcome });
    this.gcDuration.observe(result.durationSeconds);
    if (result.deletedBlobs) this.gcDeletedBlobs.inc(result.deletedBlobs);
    if (result.deletedManifests) this.gcDeletedManifests.inc(result.deletedManifests);
    if (result.freedBytes) this.gcFreedBytes.inc(result.freedBytes);
  }

  /** For authentication (issue 4): one call per refused request. */
  recordAuthFailure(reason: AuthFailureReason): void {
    this.authFailures.inc({ reason });
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
