// Listings of the management API: repositories with their tag count and last change, and tags with
// what they point at. Keyset pages in byte order, like the /v2 listings.
import type { Db } from './pool.js';

export interface RepositorySummary {
  name: string;
  tagCount: number;
  /** The last tag change, or the repository's creation when no tag ever changed. */
  updatedAt: Date;
  /** Who made the last tag change (null when none was ever recorded). */
  updatedBy: string | null;
  /** Unique blobs referenced by its manifests plus the manifests themselves, in bytes. */
  size: number;
  /** A pull-through cache's copy (BERTH_PROXIES): where from, and when last pulled; null for the team's own. */
  cache: { prefix: string; upstream: string; lastPulledAt: Date } | null;
}

/** `%`, `_` and `\` taken literally in a LIKE pattern. */
function likeLiteral(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** Every repository, or those with one of `names` or a name starting with one of `prefixes`. */
export type RepositoryFilter = 'all' | { names: string[]; prefixes: string[] };

/** A page of repositories in name order; `search` keeps those whose name contains it (any case). */
export async function listRepositorySummaries(
  db: Db,
  options: { last?: string | undefined; limit: number; search?: string | undefined; visible?: RepositoryFilter },
): Promise<RepositorySummary[]> {
  const visible = options.visible ?? 'all';
  const { rows } = await db.query<RepositorySummary>(
    `SELECT r.name,
            (SELECT count(*) FROM tags t WHERE t.repository_id = r.id)::int AS "tagCount",
            greatest(r.created_at, latest.at) AS "updatedAt",
            latest.actor AS "updatedBy",
            CASE WHEN pc.repository_id IS NULL THEN NULL
                 ELSE json_build_object('prefix', pc.prefix, 'upstream', pc.upstream, 'lastPulledAt', pc.last_pulled_at) END AS cache,
            ((SELECT coalesce(sum(b.size), 0) FROM blobs b
              WHERE b.digest IN (SELECT child_digest FROM manifest_references WHERE repository_id = r.id))
             + (SELECT coalesce(sum(m.size), 0) FROM manifests m WHERE m.repository_id = r.id))::float8 AS size
     FROM repositories r
     LEFT JOIN proxy_repositories pc ON pc.repository_id = r.id
     LEFT JOIN LATERAL (SELECT e.at, e.actor FROM tag_events e WHERE e.repository_id = r.id ORDER BY e.at DESC, e.id DESC LIMIT 1) latest ON true
     WHERE ($1::text IS NULL OR r.name > $1) AND ($3::text IS NULL OR r.name ILIKE $3)
       AND ($4::text[] IS NULL OR r.name = ANY($4) OR EXISTS (SELECT 1 FROM unnest($5::text[]) p WHERE starts_with(r.name, p)))
     ORDER BY r.name LIMIT $2`,
    [
      options.last ?? null,
      options.limit,
      options.search ? `%${likeLiteral(options.search)}%` : null,
      visible === 'all' ? null : visible.names,
      visible === 'all' ? null : visible.prefixes,
    ],
  );
  return rows;
}

/** The `limit` repositories that store the most, largest first, sized as listRepositorySummaries sizes them. */
export async function largestRepositories(db: Db, limit: number): Promise<{ name: string; size: number }[]> {
  const { rows } = await db.query<{ name: string; size: number }>(
    `WITH blob_bytes AS (
       SELECT r.repository_id, sum(b.size) AS bytes
       FROM (SELECT DISTINCT repository_id, child_digest FROM manifest_references) r JOIN blobs b ON b.digest = r.child_digest
       GROUP BY r.repository_id),
     manifest_bytes AS (SELECT repository_id, sum(size) AS bytes FROM manifests GROUP BY repository_id)
     SELECT r.name, (coalesce(bb.bytes, 0) + coalesce(mb.bytes, 0))::float8 AS size
     FROM repositories r LEFT JOIN blob_bytes bb ON bb.repository_id = r.id LEFT JOIN manifest_bytes mb ON mb.repository_id = r.id
     ORDER BY size DESC, r.name LIMIT $1`,
    [limit],
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
  /** Who made the tag's latest change (null for a tag older than its history). */
  updatedBy: string | null;
}

export async function listTagDetails(
  db: Db,
  repositoryId: number,
  options: { last?: string | undefined; limit: number; search?: string | undefined },
): Promise<TagDetailRow[]> {
  const { rows } = await db.query<TagDetailRow>(
    `SELECT t.name, t.manifest_digest AS digest, m.media_type AS "mediaType", m.artifact_type AS "artifactType",
            m.size, m.payload, t.updated_at AS "updatedAt",
            coalesce(latest.revision, 0) AS revision, latest.actor AS "updatedBy"
     FROM tags t JOIN manifests m ON m.repository_id = t.repository_id AND m.digest = t.manifest_digest
     LEFT JOIN LATERAL (SELECT e.revision, e.actor FROM tag_events e WHERE e.repository_id = t.repository_id AND e.tag = t.name
                        ORDER BY e.revision DESC LIMIT 1) latest ON true
     WHERE t.repository_id = $1 AND ($2::text IS NULL OR t.name > $2) AND ($4::text IS NULL OR t.name ILIKE $4)
     ORDER BY t.name LIMIT $3`,
    [repositoryId, options.last ?? null, options.limit, options.search ? `%${likeLiteral(options.search)}%` : null],
  );
  return rows;
}

export interface SubjectReferrerRow {
  subject: string;
  digest: string;
  mediaType: string;
  artifactType: string | null;
  size: number;
}

/** The repository's manifests that refer to any of `subjects` (signatures, SBOMs, attestations). */
export async function listReferrersOfSubjects(db: Db, repositoryId: number, subjects: string[]): Promise<SubjectReferrerRow[]> {
  if (subjects.length === 0) return [];
  const { rows } = await db.query<SubjectReferrerRow>(
    `SELECT subject_digest AS subject, digest, media_type AS "mediaType", artifact_type AS "artifactType", size
     FROM manifests WHERE repository_id = $1 AND subject_digest = ANY($2::text[]) ORDER BY created_at, digest`,
    [repositoryId, subjects],
  );
  return rows;
}
