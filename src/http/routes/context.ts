// What route handlers receive besides Koa's context: the services and URL builder, wired once.
import type { BlobService } from '../../services/blobs.js';
import type { ListingService } from '../../services/listing.js';
import type { ManifestService } from '../../services/manifests.js';
import type { UploadService } from '../../services/uploads.js';
import type { UrlBuilder } from '../urls.js';
import type { AccessControl } from '../../auth/access.js';
import type { PullThrough } from '../../proxy/pull-through.js';

export interface RouteDeps {
  blobs: BlobService;
  uploads: UploadService;
  manifests: ManifestService;
  listing: ListingService;
  urls: UrlBuilder;
  /** Decides whether a request may do what its route needs (BERTH_AUTH). */
  access: AccessControl;
  /** Blob GETs answer 307 to a short-lived backend URL instead of streaming (S3 redirect mode). */
  blobRedirect: boolean;
  /** Throws StorageFullError while the free-space reserve (BERTH_MIN_FREE_SPACE) is not there. */
  roomForUploads: () => Promise<void>;
  /** Pull-through caches (BERTH_PROXIES): misses under a cached prefix go upstream. */
  pullThrough: PullThrough;
}
