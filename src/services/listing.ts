// Tag lists (end-8), the catalog and referrers (end-12): read-only listings from PostgreSQL.
import type pg from 'pg';
import { listReferrers } from '../db/manifests.js';
import { listRepositoryNames } from '../db/repositories.js';
import { tagPageJson } from '../db/tags.js';
import { RegistryError } from '../errors/registry-error.js';
import { parseDigest } from '../registry/digest.js';
import { OCI_INDEX } from '../registry/media-types.js';

export interface Page {
  items: string[];
  /** The `last` value of the next page, when there is one. */
  next: string | undefined;
}

/** Fetches one row more than asked to know whether a next page exists. */
async function paged(fetch: (limit: number) => Promise<string[]>, n: number | undefined, max: number): Promise<Page> {
  const pageSize = n === undefined ? max : Math.min(n, max);
  if (pageSize === 0) return { items: [], next: undefined };
  const rows = await fetch(pageSize + 1);
  if (rows.length <= pageSize) return { items: rows, next: undefined };
  const items = rows.slice(0, pageSize);
  return { items, next: items[items.length - 1] };
}

/** A page of tags with its names as a JSON array text. */
export interface TagPage {
  itemsJson: string;
  count: number;
  next: string | undefined;
}

export class ListingService {
  constructor(
    private readonly pool: pg.Pool,
    /** Largest page served; a bigger `n` gets a shorter page with a Link to the rest. */
    private readonly maxPage = 10_000,
  ) {}

  /** One statement: the repository lookup and the page, serialized to JSON by PostgreSQL. */
  async tags(repository: string, n: number | undefined, last: string | undefined): Promise<TagPage> {
    const pageSize = n === undefined ? this.maxPage : Math.min(n, this.maxPage);
    const page = await tagPageJson(this.pool, repository, { last, limit: pageSize });
    if (page.repositoryId === undefined) throw new RegistryError('NAME_UNKNOWN', { detail: { name: repository } });
    const next = page.more && page.lastName !== null ? page.lastName : undefined;
    return { itemsJson: page.itemsJson, count: page.count, next };
  }

  async catalog(n: number | undefined, last: string | undefined): Promise<Page> {
    return paged((limit) => listRepositoryNames(this.pool, { last, limit }), n, this.maxPage);
  }

  /** An image index of the manifests whose subject is `digest`; empty (never 404) for an unknown subject. */
  async referrers(repository: string, digestParam: string, artifactType: string | undefined) {
    const { digest } = parseDigest(digestParam);
    const rows = await listReferrers(this.pool, repository, digest, artifactType);
    return {
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: rows.map((r) => ({
        mediaType: r.mediaType,
        digest: r.digest,
        size: r.size,
        ...(r.artifactType ? { artifactType: r.artifactType } : {}),
        ...(r.annotations ? { annotations: r.annotations } : {}),
      })),
    };
  }
}
