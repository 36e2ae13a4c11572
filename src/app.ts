// buildApp(deps): the Koa application, pure wiring. Tests call it directly with supertest.
import Koa from 'koa';
import type { Logger } from 'pino';
import type pg from 'pg';
import type { TokenAuth } from './auth/token-auth.js';
import { type AccessControl, openAccess } from './auth/access.js';
import { errorEnvelope } from './http/middleware/error-envelope.js';
import { rejectUnstorableInput } from './http/middleware/storable-input.js';
import { requestLog } from './http/middleware/request-log.js';
import { createApiRouter } from './http/api/index.js';
import { createRegistryRouter } from './http/routes/index.js';
import { createManagementRouter, requireAdministrator } from './http/routes/management.js';
import { createTokenRouter } from './http/routes/token.js';
import { ImmutableTags, type ImmutableTagRule } from './registry/immutable-tags.js';
import { operationsRouter } from './http/routes/operations.js';
import { UrlBuilder } from './http/urls.js';
import { authFailureMetrics } from './metrics/auth-failures.js';
import { httpMetrics } from './metrics/http-metrics.js';
import { Metrics } from './metrics/metrics.js';
import { silentNotifier, type Notifier } from './notify/notifier.js';
import { Quotas, type QuotaRule } from './registry/quotas.js';
import { BlobService } from './services/blobs.js';
import type { GcOptions } from './gc/collector.js';
import { GcRuns } from './services/gc-runs.js';
import { ImageDetailsService } from './services/image-details.js';
import { ImageDiffService } from './services/image-diff.js';
import { ListingService } from './services/listing.js';
import { ManifestService } from './services/manifests.js';
import { OverviewService } from './services/overview.js';
import { TagHistoryService } from './services/tag-history.js';
import { UploadService } from './services/uploads.js';
import { UsageService } from './services/usage.js';
import type { ResumableDigests } from './hashing/upload-digest.js';
import type { BlobStore } from './storage/blob-store.js';
import type { FreeSpaceGuard } from './storage/free-space.js';
import { instrumentBlobStore } from './storage/instrumented-blob-store.js';
import { createPullThrough } from './proxy/pull-through.js';
import { proxyMetrics } from './proxy/proxy-metrics.js';
import type { ProxyConfig } from './proxy/settings.js';
import { createUi } from './ui/index.js';

export interface AppDeps {
  pool: pg.Pool;
  /** Connections that hold upload write locks while a chunk streams; defaults to `pool`. */
  lockPool?: pg.Pool;
  store: BlobStore;
  logger: Logger;
  publicUrl?: string | undefined;
  /** Answer blob GETs with 307 to a presigned backend URL, where the store has one (BERTH_S3_REDIRECT). */
  blobRedirect?: boolean;
  /** Accept manifests that reference content the repository lacks (BERTH_SPARSE_MANIFESTS). */
  sparseManifests?: boolean;
  /** Honour X-Forwarded-* (only behind a proxy that sets them). */
  trustProxy?: boolean;
  /** Who may do what; the token auth's when `auth` is given, otherwise everything is open (BERTH_AUTH=none). */
  access?: AccessControl;
  /** Tags that may be created but never moved, deleted or rolled back (BERTH_IMMUTABLE_TAGS). */
  immutableTags?: ImmutableTagRule[];
  /** BERTH_AUTH=token: adds /token, /.well-known/jwks.json and the management API, and guards /v2 with tokens. */
  auth?: TokenAuth;
  /** Prometheus metrics of this process; a fresh set (without process metrics) when absent. */
  metrics?: Metrics;
  /** Serve GET /metrics here (false when BERTH_METRICS_ADDR has a listener of its own). */
  serveMetrics?: boolean;
  /** Told about pushes, tag changes and deletes (BERTH_WEBHOOKS). */
  notifier?: Notifier;
  /** True once the process is shutting down: /readyz answers 503. */
  draining?: () => boolean;
  /** Storage allowances per repository glob (BERTH_QUOTAS); none when absent. */
  quotas?: QuotaRule[];
  /** Serve the web UI at / (BERTH_UI). */
  ui?: boolean;
  /** Settings of garbage collection on demand (POST /api/v1/gc); none when absent. */
  gc?: GcOptions;
  /** Saveable digests of uploads in progress; the process's own (native module if built) when absent. */
  resumableDigests?: ResumableDigests;
  /** The free-space reserve (BERTH_MIN_FREE_SPACE): uploads refused while it is not there; none when absent. */
  freeSpace?: FreeSpaceGuard;
  /** Pull-through caches (BERTH_PROXIES); none when absent. */
  proxies?: ProxyConfig[];
  /** Where pull-through downloads are spooled for clients joining them, when the store cannot read staged bytes (S3). */
  proxySpoolDir?: string | undefined;
  /** Connections holding the caches' cross-replica fetch locks; apart from `lockPool`, which their uploads use. */
  proxyLockPool?: pg.Pool | undefined;
}

export function buildApp(deps: AppDeps): Koa {
  const app = new Koa({ proxy: deps.trustProxy ?? false });
  const access = deps.access ?? deps.auth?.access ?? openAccess;
  const immutableTags = new ImmutableTags(deps.immutableTags ?? []);
  const metrics = deps.metrics ?? new Metrics({ processMetrics: false });
  const store = instrumentBlobStore(deps.store, metrics);
  const notifier = deps.notifier ?? silentNotifier;
  const quotas = new Quotas(deps.quotas ?? []);
  const blobs = new BlobService(deps.pool, store, notifier);
  const uploads = new UploadService(deps.pool, store, deps.lockPool, deps.resumableDigests);
  const manifests = new ManifestService(deps.pool, { sparse: deps.sparseManifests ?? false, immutableTags, quotas }, notifier);
  const pullThrough = createPullThrough(deps.proxies ?? [], {
    pool: deps.pool,
    lockPool: deps.proxyLockPool ?? deps.lockPool ?? deps.pool,
    manifests,
    blobs,
    uploads,
    logger: deps.logger,
    metrics: proxyMetrics(metrics.registry),
    spoolDir: deps.proxySpoolDir,
  });
  const router = createRegistryRouter({
    blobs,
    uploads,
    manifests,
    pullThrough,
    listing: new ListingService(deps.pool),
    urls: new UrlBuilder(deps.publicUrl, deps.trustProxy ?? false),
    blobRedirect: deps.blobRedirect ?? false,
    access,
    roomForUploads: async () => deps.freeSpace?.check(),
  });
  const diff = new ImageDiffService(deps.pool, store);
  const api = createApiRouter({
    history: new TagHistoryService(deps.pool, store, { immutableTags, sparseManifests: deps.sparseManifests }, notifier),
    overview: new OverviewService(deps.pool, store),
    diff,
    usage: new UsageService(deps.pool, quotas),
    images: new ImageDetailsService(deps.pool, store, diff),
    immutableTags,
    gc: deps.gc && new GcRuns(deps.pool, store, { ...deps.gc, logger: deps.logger }),
    notifier,
    requireAdmin: deps.auth && ((ctx) => requireAdministrator(deps.auth!, ctx)),
    access,
  });
  const operations = operationsRouter(
    { pool: deps.pool, store, metrics, draining: deps.draining },
    { health: true, metrics: deps.serveMetrics ?? true },
  );
  app.use(requestLog(deps.logger));
  app.use(httpMetrics(metrics));
  if (deps.auth) app.use(authFailureMetrics(metrics));
  app.use(errorEnvelope);
  app.use(rejectUnstorableInput);
  app.use(operations.routes());
  app.use(operations.allowedMethods());
  if (deps.ui) app.use(createUi({ pool: deps.pool, auth: deps.auth, publicUrl: deps.publicUrl }));
  app.use(router.routes());
  if (deps.auth) {
    app.use(createTokenRouter(deps.auth).routes());
    app.use(createManagementRouter(deps.auth).routes());
  }
  // Last: its catch-all answers every other /api path.
  app.use(api.routes());
  // Koa's default handler prints errors to stderr; the request log already has them.
  app.silent = true;
  return app;
}

/** The separate listener of BERTH_METRICS_ADDR: /metrics and the probes, nothing else. */
export function buildOperationsApp(deps: Pick<AppDeps, 'pool' | 'store' | 'draining'> & { metrics: Metrics }): Koa {
  const app = new Koa();
  const store = instrumentBlobStore(deps.store, deps.metrics);
  const operations = operationsRouter({ pool: deps.pool, store, metrics: deps.metrics, draining: deps.draining }, { health: true, metrics: true });
  app.use(operations.routes());
  app.use(operations.allowedMethods());
  app.silent = true;
  return app;
}
