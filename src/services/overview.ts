// The management API's listings: repositories (tag count, last change) and a repository's tags
// (digest, media type, sizes, platforms, last change). Platforms of an index come from its payload;
// of a single image from its config blob, read through the BlobStore.
import type pg from 'pg';
import { largestRepositories, listReferrersOfSubjects, listRepositorySummaries, listTagDetails, type RepositoryFilter, type RepositorySummary } from '../db/overview.js';
import { findRepositoryId } from '../db/repositories.js';
import { RegistryError } from '../errors/registry-error.js';
import { imageParts, indexChildren, isImageConfigMediaType, isIndexPayload, platformKey } from '../registry/image-config.js';
import type { BlobStore } from '../storage/blob-store.js';
import { ImageReader } from './image-reader.js';

export interface TagDetail {
  name: string;
  digest: string;
  mediaType: string;
  artifactType: string | null;
  /** Bytes of the manifest itself. */
  manifestSize: number;
  /** Config plus layers of an image (what a pull of one platform downloads at most); null for an index. */
  imageSize: number | null;
  platforms: string[];
  revision: number;
  updatedAt: Date;
  updatedBy: string | null;
  /** Manifests whose subject is this one: signatures, SBOMs, attestations. */
  referrers: { digest: string; mediaType: string; artifactType: string | null; size: number }[];
}

export interface Paged<T> {
  items: T[];
  /** The `last` of the next page, when there is one. */
  next: string | undefined;
}

export class OverviewService {
  private readonly images: ImageReader;

  constructor(
    private readonly pool: pg.Pool,
    store: BlobStore,
  ) {
    this.images = new ImageReader(pool, store);
  }

  /** The `n` repositories that store the most, largest first. */
  largest(n: number): Promise<{ name: string; size: number }[]> {
    return largestRepositories(this.pool, n);
  }

  async repositories(n: number, last: string | undefined, search?: string, visible: RepositoryFilter = 'all'): Promise<Paged<RepositorySummary>> {
    const rows = await listRepositorySummaries(this.pool, { last, limit: n + 1, search, visible });
    const items = rows.slice(0, n);
    return { items, next: rows.length > n ? items[items.length - 1]!.name : undefined };
  }

  async tags(repository: string, n: number, last: string | undefined, search?: string): Promise<Paged<TagDetail>> {
    const repositoryId = await findRepositoryId(this.pool, repository);
    if (repositoryId === undefined) throw new RegistryError('NAME_UNKNOWN', { detail: { name: repository } });
    const rows = await listTagDetails(this.pool, repositoryId, { last, limit: n + 1, search });
    const page = rows.slice(0, n);
    const referrers = await listReferrersOfSubjects(this.pool, repositoryId, [...new Set(page.map((r) => r.digest))]);
    const items = await Promise.all(
      page.map(async (row): Promise<TagDetail> => {
        let platforms: string[] = [];
        let imageSize: number | null = null;
        if (isIndexPayload(row.mediaType)) {
          platforms = indexChildren(row.payload).filter((c) => c.platform && !c.attestation).map((c) => platformKey(c.platform!));
        } else {
          const parts = imageParts(row.payload);
          if (parts) {
            imageSize = parts.config.size + parts.layers.reduce((sum, l) => sum + l.size, 0);
            if (isImageConfigMediaType(parts.config.mediaType)) {
              const config = await this.images.config(parts.config.digest, parts.config.size).catch(() => undefined);
              if (config?.platform) platforms = [platformKey(config.platform)];
            }
          }
        }
        return {
          name: row.name,
          digest: row.digest,
          mediaType: row.mediaType,
          artifactType: row.artifactType,
          manifestSize: row.size,
          imageSize,
          platforms: [...new Set(platforms)],
          revision: row.revision,
          updatedAt: row.updatedAt,
          updatedBy: row.updatedBy,
          referrers: referrers.filter((r) => r.subject === row.digest).map(({ subject: _, ...r }) => r),
        };
      }),
    );
    return { items, next: rows.length > n ? page[page.length - 1]!.name : undefined };
  }
}
