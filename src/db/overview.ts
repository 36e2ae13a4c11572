// Listings of the management API: repositories with their tag count and last change, and tags with
// what they point at. Keyset pages in byte order, like the /v2 listings.
import type { Db } from './pool.js';

export interface RepositorySummary {
  name: string;
  tagCount: number;
  /** The last tag change, or the repository's creation when no tag ever changed. */
  updatedAt: Date;
  /** A pull-through cache's copy (BERTH_PROXIES): where from, and when last pulled; null for the team's own. */
  cache: { prefix: string; upstream: string; lastPulledAt: Date } | null;
}

export async function listRepositorySummaries(db: Db, options: { last?: string | undefined; limit: number }): Promise<RepositorySummary[]> {
  const { rows } = await db.query<RepositorySummary>(
    `SELECT r.name,
            (SELECT count(*) FROM tags t WHERE t.repository_id = r.id)::int AS "tagCount",
            greatest(r.created_at, (SELECT max(e.at) FROM tag_events e WHERE e.repository_id = r.id)) AS "updatedAt",
            CASE WHEN p.repository_id IS NULL THEN NULL
                 ELSE json_build_object('prefix', p.prefix, 'upstream', p.upstream, 'lastPulledAt', p.last_pulled_at) END AS cache
     FROM repositories r LEFT JOIN proxy_repositories p ON p.repository_id = r.id WHERE ($1::text IS NULL OR r.name > $1) ORDER BY r.name LIMIT $2`,
    [options.last ?? null, options.limit],
  );
  return rows;
}

export interface TagDetailRow {
  name: string;
  digest: string;
  mediaType: string;
  artifactType: string | null;
  size: number;
  payload: Buffer;
  updatedAt: Date;
  /** The tag's latest revision (0 for a tag older than its history). */
  revision: number;
}

export async function listTagDetails(
  db: Db,
  repositoryId: number,
  options: { last?: string | undefined; limit: number },
): Promise<TagDetailRow[]> {
  const { rows } = await db.query<TagDetailRow>(
    `SELECT t.name, t.manifest_digest AS digest, m.media_type AS "mediaType", m.artifact_type AS "artifactType",
            m.size, m.payload, t.updated_at AS "updatedAt",
            coalesce((SELECT max(e.revision) FROM tag_events e WHERE e.repository_id = t.repository_id AND e.tag = t.name), 0) AS revision
     FROM tags t JOIN manifests m ON m.repository_id = t.repository_id AND m.digest = t.manifest_digest
     WHERE t.repository_id = $1 AND ($2::text IS NULL OR t.name > $2)
     ORDER BY t.name LIMIT $3`,
    [repositoryId, options.last ?? null, options.limit],
  );
  return rows;
}
