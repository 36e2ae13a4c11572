// buildApp(deps): the Koa application, pure wiring. Tests call it directly with supertest.
import Koa from 'koa';
import type { Logger } from 'pino';
import type pg from 'pg';
import { type AccessControl, openAccess } from './http/access.js';
import { errorEnvelope } from './http/middleware/error-envelope.js';
import { requestLog } from './http/middleware/request-log.js';
import { createApiRouter } from './http/api/index.js';
import { createRegistryRouter } from './http/routes/index.js';
import { UrlBuilder } from './http/urls.js';
import { ImmutableTags, type ImmutableTagRule } from './registry/immutable-tags.js';
import { Quotas, type QuotaRule } from './registry/quotas.js';
import { BlobService } from './services/blobs.js';
import { ImageDiffService } from './services/image-diff.js';
import { ListingService } from './services/listing.js';
import { ManifestService } from './services/manifests.js';
import { OverviewService } from './services/overview.js';
import { TagHistoryService } from './services/tag-history.js';
import { UploadService } from './services/uploads.js';
import { UsageService } from './services/usage.js';
import type { BlobStore } from './storage/blob-store.js';

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
  /** Who may do what; everything is open when absent (BERTH_AUTH=none). */
  access?: AccessControl;
  /** Tags that may be created but never moved, deleted or rolled back (BERTH_IMMUTABLE_TAGS). */
  immutableTags?: ImmutableTagRule[];
  /** Storage allowances per repository glob (BERTH_QUOTAS); none when absent. */
  quotas?: QuotaRule[];
}

export function buildApp(deps: AppDeps): Koa {
  const app = new Koa({ proxy: deps.trustProxy ?? false });
  const access = deps.access ?? openAccess;
  const immutableTags = new ImmutableTags(deps.immutableTags ?? []);
  const quotas = new Quotas(deps.quotas ?? []);
  const router = createRegistryRouter({
    blobs: new BlobService(deps.pool, deps.store),
    uploads: new UploadService(deps.pool, deps.store, deps.lockPool),
    manifests: new ManifestService(deps.pool, { sparse: deps.sparseManifests ?? false, immutableTags, quotas }),
    listing: new ListingService(deps.pool),
    urls: new UrlBuilder(deps.publicUrl),
    blobRedirect: deps.blobRedirect ?? false,
    access,
  });
  const api = createApiRouter({
    history: new TagHistoryService(deps.pool, deps.store, { immutableTags, sparseManifests: deps.sparseManifests }),
    overview: new OverviewService(deps.pool, deps.store),
    diff: new ImageDiffService(deps.pool, deps.store),
    usage: new UsageService(deps.pool, quotas),
    access,
  });
  app.use(requestLog(deps.logger));
  app.use(errorEnvelope);
  app.use(router.routes());
  app.use(api.routes());
  // Koa's default handler prints errors to stderr; the request log already has them.
  app.silent = true;
  return app;
}
