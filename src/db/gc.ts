// The SQL of garbage collection: the mark (which manifests and blobs nothing keeps) and the sweep
// statements run under row locks. The protocol that makes them safe next to pushes is described in
// src/gc/collector.ts; this module only says what each statement does.
import type { Db } from './pool.js';

export interface ManifestKey {
  repositoryId: number;
  digest: string;
}

export interface ManifestCandidate extends ManifestKey {
  repository: string;
  /** Bytes of the manifest itself (kept in PostgreSQL). */
  size: number;
  /** An index or list: collected before the manifests it lists. */
  isIndex: boolean;
}

export interface BlobCandidate {
  digest: string;
  size: number;
}

const INDEX_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
];

/**
 * Manifests nothing keeps: not younger than `cutoff`, not tagged, not retained by tag history
 * (`retained`), not listed by a kept index, not a referrer of a kept manifest. Kept-ness spreads
 * from those roots along index → child and subject → referrer edges, so a whole unused tree
 * (an index, its images, their signatures) is collected in one run.
 */
export async function markManifests(db: Db, cutoff: Date, retained: ManifestKey[]): Promise<ManifestCandidate[]> {
  const { rows } = await db.query<ManifestCandidate>(
    `WITH RECURSIVE edges (repository_id, from_digest, to_digest) AS (
       SELECT repository_id, manifest_digest, child_digest FROM manifest_references WHERE kind = 'manifest'
       UNION ALL
       SELECT repository_id, subject_digest, digest FROM manifests WHERE subject_digest IS NOT NULL
     ), roots (repository_id, digest) AS (
       SELECT repository_id, digest FROM manifests WHERE created_at >= $1
       UNION SELECT repository_id, manifest_digest FROM tags
       UNION SELECT * FROM unnest($2::bigint[], $3::text[])
     ), live (repository_id, digest) AS (
       SELECT repository_id, digest FROM roots
       UNION
       SELECT e.repository_id, e.to_digest FROM live l
       JOIN edges e ON e.repository_id = l.repository_id AND e.from_digest = l.digest
     )
     SELECT m.repository_id AS "repositoryId", r.name AS repository, m.digest, m.size,
            m.media_type = ANY($4::text[]) AS "isIndex"
     FROM manifests m JOIN repositories r ON r.id = m.repository_id
     WHERE m.created_at < $1
       AND NOT EXISTS (SELECT 1 FROM live l WHERE l.repository_id = m.repository_id AND l.digest = m.digest)
     ORDER BY m.repository_id, (m.media_type = ANY($4::text[])) DESC, m.digest`,
    [cutoff, retained.map((k) => k.repositoryId), retained.map((k) => k.digest), INDEX_TYPES],
  );
  return rows;
}

/**
 * Blobs nothing keeps: stored before `cutoff`, linked to no repository since `cutoff`, and
 * referenced by no manifest of any repository other than the `doomed` ones (the manifests a dry
 * run would delete first; empty for a real run, which has deleted them already).
 */
export async function markBlobs(db: Db, cutoff: Date, doomed: ManifestKey[] = []): Promise<BlobCandidate[]> {
  const { rows } = await db.query<BlobCandidate>(
    `WITH doomed (repository_id, digest) AS (SELECT * FROM unnest($2::bigint[], $3::text[]))
     SELECT b.digest, b.size FROM blobs b
     WHERE b.created_at < $1
       AND NOT EXISTS (SELECT 1 FROM repository_blobs rb WHERE rb.digest = b.digest AND rb.created_at >= $1)
       AND NOT EXISTS (
         SELECT 1 FROM manifest_references r WHERE r.child_digest = b.digest
           AND NOT EXISTS (SELECT 1 FROM doomed d WHERE d.repository_id = r.repository_id AND d.digest = r.manifest_digest))
     ORDER BY b.digest`,
    [cutoff, doomed.map((k) => k.repositoryId), doomed.map((k) => k.digest)],
  );
  return rows;
}

/** Locks the manifests of `keys` nobody else holds (a push tagging or listing one holds it). */
export async function lockManifests(tx: Db, keys: ManifestKey[]): Promise<ManifestKey[]> {
  const { rows } = await tx.query<ManifestKey>(
    `SELECT m.repository_id AS "repositoryId", m.digest FROM manifests m
     JOIN unnest($1::bigint[], $2::text[]) AS k(repository_id, digest) ON k.repository_id = m.repository_id AND k.digest = m.digest
     FOR UPDATE OF m SKIP LOCKED`,
    [keys.map((k) => k.repositoryId), keys.map((k) => k.digest)],
  );
  return rows;
}

export interface ManifestRecheck extends ManifestKey {
  /** Old enough and not tagged. */
  free: boolean;
  /** Existing indexes of the repository that list it. */
  parents: string[];
  /** Its subject, when that manifest exists in the repository. */
  subject: string | null;
}

/** What keeps each locked manifest now (a statement after the lock: it sees every commit before it). */
export async function recheckManifests(tx: Db, keys: ManifestKey[], cutoff: Date): Promise<ManifestRecheck[]> {
  const { rows } = await tx.query<ManifestRecheck>(
    `SELECT m.repository_id AS "repositoryId", m.digest,
            (m.created_at < $3 AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.repository_id = m.repository_id AND t.manifest_digest = m.digest)) AS free,
            ARRAY(SELECT r.manifest_digest FROM manifest_references r
                  WHERE r.repository_id = m.repository_id AND r.child_digest = m.digest AND r.kind = 'manifest') AS parents,
            (SELECT s.digest FROM manifests s WHERE s.repository_id = m.repository_id AND s.digest = m.subject_digest) AS subject
     FROM manifests m
     JOIN unnest($1::bigint[], $2::text[]) AS k(repository_id, digest) ON k.repository_id = m.repository_id AND k.digest = m.digest`,
    [keys.map((k) => k.repositoryId), keys.map((k) => k.digest), cutoff],
  );
  return rows;
}

/** Deletes the manifests (their references go with them); returns the payload bytes freed. */
export async function deleteManifests(tx: Db, keys: ManifestKey[]): Promise<number> {
  const { rows } = await tx.query<{ bytes: number | null }>(
    `WITH gone AS (
       DELETE FROM manifests m USING unnest($1::bigint[], $2::text[]) AS k(repository_id, digest)
       WHERE m.repository_id = k.repository_id AND m.digest = k.digest RETURNING m.size)
     SELECT sum(size)::bigint AS bytes FROM gone`,
    [keys.map((k) => k.repositoryId), keys.map((k) => k.digest)],
  );
  return rows[0]?.bytes ?? 0;
}

/**
 * Session-level exclusive locks on these digests' "blob" keys, for those nobody holds: an upload
 * committing the same digest holds the shared lock (src/db/blob-guard.ts).
 */
export async function tryLockBlobDigests(session: Db, digests: string[]): Promise<string[]> {
  const { rows } = await session.query<{ digest: string }>(
    `SELECT d AS digest FROM unnest($1::text[]) AS d WHERE pg_try_advisory_lock(hashtextextended('blob:' || d, 0))`,
    [digests],
  );
  return rows.map((r) => r.digest);
}

export async function unlockBlobDigests(session: Db, digests: string[]): Promise<void> {
  if (digests.length === 0) return;
  await session.query(`SELECT pg_advisory_unlock(hashtextextended('blob:' || d, 0)) FROM unnest($1::text[]) AS d`, [digests]);
}

/**
 * Locks the blob rows and all their repository links, skipping what others hold: a manifest push
 * holds the links it validated, a mount holds the blob row through its new link's foreign key.
 * Returns the digests whose row could be locked.
 */
export async function lockBlobs(tx: Db, digests: string[]): Promise<{ blobs: string[]; lockedLinks: Map<string, number> }> {
  const blobs = await tx.query<{ digest: string }>(
    'SELECT digest FROM blobs WHERE digest = ANY($1::text[]) FOR UPDATE SKIP LOCKED',
    [digests],
  );
  const locked = blobs.rows.map((r) => r.digest);
  const links = await tx.query<{ digest: string; n: number }>(
    `WITH l AS (SELECT digest FROM repository_blobs WHERE digest = ANY($1::text[]) FOR UPDATE SKIP LOCKED)
     SELECT digest, count(*)::int AS n FROM l GROUP BY digest`,
    [locked],
  );
  return { blobs: locked, lockedLinks: new Map(links.rows.map((r) => [r.digest, r.n])) };
}

/**
 * Of the locked blobs, those still garbage now: old, no recent link, no manifest referencing them,
 * and every link of theirs among the ones this transaction locked.
 */
export async function recheckBlobs(tx: Db, digests: string[], cutoff: Date, lockedLinks: Map<string, number>): Promise<string[]> {
  const { rows } = await tx.query<{ digest: string; links: number }>(
    `SELECT b.digest, (SELECT count(*) FROM repository_blobs rb WHERE rb.digest = b.digest)::int AS links
     FROM blobs b
     WHERE b.digest = ANY($1::text[]) AND b.created_at < $2
       AND NOT EXISTS (SELECT 1 FROM repository_blobs rb WHERE rb.digest = b.digest AND rb.created_at >= $2)
       AND NOT EXISTS (SELECT 1 FROM manifest_references r WHERE r.child_digest = b.digest)`,
    [digests, cutoff],
  );
  return rows.filter((r) => r.links === (lockedLinks.get(r.digest) ?? 0)).map((r) => r.digest);
}

/** Deletes the blobs' links and rows; returns the rows deleted with their sizes. */
export async function deleteBlobRows(tx: Db, digests: string[]): Promise<BlobCandidate[]> {
  await tx.query('DELETE FROM repository_blobs WHERE digest = ANY($1::text[])', [digests]);
  const { rows } = await tx.query<BlobCandidate>('DELETE FROM blobs WHERE digest = ANY($1::text[]) RETURNING digest, size', [digests]);
  return rows;
}

/** Records the deleted blobs whose bytes are to go from the store (same transaction as the rows). */
export async function queueStoreDeletes(tx: Db, blobs: BlobCandidate[]): Promise<void> {
  if (blobs.length === 0) return;
  await tx.query(
    `INSERT INTO gc_pending_deletes (digest, size) SELECT * FROM unnest($1::text[], $2::bigint[])
     ON CONFLICT (digest) DO UPDATE SET size = EXCLUDED.size, queued_at = now()`,
    [blobs.map((b) => b.digest), blobs.map((b) => b.size)],
  );
}

export async function forgetStoreDeletes(db: Db, digests: string[]): Promise<void> {
  if (digests.length === 0) return;
  await db.query('DELETE FROM gc_pending_deletes WHERE digest = ANY($1::text[])', [digests]);
}

/** Store deletes an earlier run left unfinished, oldest first. */
export async function listPendingStoreDeletes(db: Db, limit: number): Promise<BlobCandidate[]> {
  const { rows } = await db.query<BlobCandidate>('SELECT digest, size FROM gc_pending_deletes ORDER BY queued_at LIMIT $1', [limit]);
  return rows;
}

/** Of these digests, those with a blob row (uploaded again since their row was deleted). */
export async function existingBlobDigests(db: Db, digests: string[]): Promise<Set<string>> {
  if (digests.length === 0) return new Set();
  const { rows } = await db.query<{ digest: string }>('SELECT digest FROM blobs WHERE digest = ANY($1::text[])', [digests]);
  return new Set(rows.map((r) => r.digest));
}

/** The collection's reference time from the database clock (replicas' clocks may disagree). */
export async function gcCutoff(db: Db, graceMs: number): Promise<Date> {
  const { rows } = await db.query<{ cutoff: Date }>('SELECT clock_timestamp() - make_interval(secs => $1::float8 / 1000) AS cutoff', [graceMs]);
  return rows[0]!.cutoff;
}

export async function countStaleUploads(db: Db, olderThanMs: number): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM uploads WHERE updated_at < now() - make_interval(secs => $1::float8 / 1000)',
    [olderThanMs],
  );
  return rows[0]!.n;
}

/** A page of blob rows in digest order after `after` (fsck walks them all). */
export async function listBlobRows(db: Db, after: string | null, limit: number): Promise<BlobCandidate[]> {
  const { rows } = await db.query<BlobCandidate>(
    'SELECT digest, size FROM blobs WHERE ($1::text IS NULL OR digest > $1) ORDER BY digest LIMIT $2',
    [after, limit],
  );
  return rows;
}
