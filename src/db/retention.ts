// Which manifests tag history keeps (issue 5's retention): the answer garbage collection asks before
// deleting anything. A manifest is retained when a tag pointed at it within the retention window,
// or it is among the digests of each tag's last `keep` revisions (the digests those events set and
// the ones they replaced, so "roll back to previous" works from any of them), or it is a child of a
// retained index. A manifest deleted explicitly by digest is gone from `manifests` and never listed.
import type { Db } from './pool.js';

export interface RetentionPolicy {
  /** How far back a tag's past digests are kept (BERTH_HISTORY_RETENTION); null keeps them forever. */
  windowMs: number | null;
  /** How many of each tag's latest revisions are kept whatever their age (BERTH_HISTORY_KEEP). */
  keep: number;
}

/** Why a manifest is kept. */
export type RetentionReason = 'window' | 'revisions' | 'index-child';

export interface RetainedManifest {
  repositoryId: number;
  repository: string;
  digest: string;
  reasons: RetentionReason[];
}

const RETAINED_SQL = `
WITH RECURSIVE ev AS (
  SELECT repository_id, revision, digest, previous_digest, at,
         lead(at) OVER (PARTITION BY repository_id, tag ORDER BY revision) AS until,
         max(revision) OVER (PARTITION BY repository_id, tag) AS last_revision
  FROM tag_events WHERE ($3::bigint IS NULL OR repository_id = $3)
), pinned AS (
  -- the tag pointed at digest from \`at\` until the next event: kept when that reaches the window
  SELECT repository_id, digest, 'window' AS reason FROM ev
   WHERE digest IS NOT NULL AND ($1::timestamptz IS NULL OR until IS NULL OR until >= $1)
  UNION
  -- a change inside the window replaced previous_digest, so the tag pointed at it inside the window
  SELECT repository_id, previous_digest, 'window' FROM ev
   WHERE previous_digest IS NOT NULL AND ($1::timestamptz IS NULL OR at >= $1)
  UNION
  SELECT repository_id, digest, 'revisions' FROM ev WHERE digest IS NOT NULL AND revision > last_revision - $2
  UNION
  SELECT repository_id, previous_digest, 'revisions' FROM ev WHERE previous_digest IS NOT NULL AND revision > last_revision - $2
), closure (repository_id, digest, reason) AS (
  SELECT repository_id, digest, reason FROM pinned
  UNION
  SELECT c.repository_id, r.child_digest, 'index-child' FROM closure c
  JOIN manifest_references r ON r.repository_id = c.repository_id AND r.manifest_digest = c.digest AND r.kind = 'manifest'
)
SELECT c.repository_id AS "repositoryId", rp.name AS repository, c.digest,
       array_agg(DISTINCT c.reason ORDER BY c.reason) AS reasons
FROM closure c
JOIN manifests m ON m.repository_id = c.repository_id AND m.digest = c.digest
JOIN repositories rp ON rp.id = c.repository_id
WHERE ($4::text IS NULL OR c.digest = $4)
GROUP BY c.repository_id, rp.name, c.digest
ORDER BY rp.name, c.digest`;

function cutoff(policy: RetentionPolicy, now: Date): Date | null {
  return policy.windowMs === null ? null : new Date(now.getTime() - policy.windowMs);
}

/** Every manifest retention keeps, optionally of one repository, ordered by repository and digest. */
export async function listRetainedManifests(
  db: Db,
  policy: RetentionPolicy,
  options: { repositoryId?: number; now?: Date } = {},
): Promise<RetainedManifest[]> {
  const { rows } = await db.query<RetainedManifest>(RETAINED_SQL, [
    cutoff(policy, options.now ?? new Date()),
    policy.keep,
    options.repositoryId ?? null,
    null,
  ]);
  return rows;
}

/** Why retention keeps this manifest; undefined when it does not (GC may delete it if nothing else refers to it). */
export async function retentionOf(
  db: Db,
  policy: RetentionPolicy,
  repositoryId: number,
  digest: string,
  now = new Date(),
): Promise<RetentionReason[] | undefined> {
  const { rows } = await db.query<RetainedManifest>(RETAINED_SQL, [cutoff(policy, now), policy.keep, repositoryId, digest]);
  return rows[0]?.reasons;
}
