// Storage accounting: a repository's logical size is the sum of the unique blobs its manifests
// reference (config, layers, artifact blobs), whatever other repositories share them.
import type { Db } from './pool.js';

export interface RepositoryUsage {
  /** Unique blobs referenced by the repository's manifests, and their bytes. */
  blobs: number;
  bytes: number;
  /** Manifests of the repository and their bytes (kept in PostgreSQL). */
  manifests: number;
  manifestBytes: number;
  tags: number;
}

export async function repositoryUsage(db: Db, repositoryId: number): Promise<RepositoryUsage> {
  const { rows } = await db.query<RepositoryUsage>(
    `SELECT b.blobs, b.bytes, m.manifests, m.manifest_bytes AS "manifestBytes",
            (SELECT count(*) FROM tags WHERE repository_id = $1)::int AS tags
     FROM (SELECT count(*)::int AS blobs, coalesce(sum(size), 0)::bigint AS bytes FROM blobs
           WHERE digest IN (SELECT child_digest FROM manifest_references WHERE repository_id = $1)) b,
          (SELECT count(*)::int AS manifests, coalesce(sum(size), 0)::bigint AS manifest_bytes FROM manifests WHERE repository_id = $1) m`,
    [repositoryId],
  );
  return rows[0]!;
}

/**
 * For the repositories whose names match `nameRegex` (a PostgreSQL regular expression): the bytes
 * of the unique blobs their manifests reference, and how many bytes of `digests` are not among them
 * (what a push referencing `digests` would add).
 */
export async function prefixUsage(db: Db, nameRegex: string, digests: string[] = []): Promise<{ used: number; added: number }> {
  const { rows } = await db.query<{ used: number; added: number }>(
    `WITH referenced AS (
       SELECT DISTINCT r.child_digest AS digest FROM manifest_references r
       JOIN repositories rp ON rp.id = r.repository_id WHERE rp.name ~ $1)
     SELECT (SELECT coalesce(sum(b.size), 0) FROM blobs b JOIN referenced x ON x.digest = b.digest)::bigint AS used,
            (SELECT coalesce(sum(b.size), 0) FROM blobs b
             WHERE b.digest = ANY($2::text[]) AND NOT EXISTS (SELECT 1 FROM referenced x WHERE x.digest = b.digest))::bigint AS added`,
    [nameRegex, [...new Set(digests)]],
  );
  return rows[0]!;
}

/** Serializes pushes counted against one quota rule until the transaction ends. */
export async function lockQuota(tx: Db, pattern: string): Promise<void> {
  await tx.query("SELECT pg_advisory_xact_lock(hashtextextended('quota:' || $1, 0))", [pattern]);
}

export interface StoreTotals {
  blobs: number;
  bytes: number;
}

/** What the blob store should hold: every blob row and its size. */
export async function storeTotals(db: Db): Promise<StoreTotals> {
  const { rows } = await db.query<StoreTotals>('SELECT count(*)::int AS blobs, coalesce(sum(size), 0)::bigint AS bytes FROM blobs');
  return rows[0]!;
}
