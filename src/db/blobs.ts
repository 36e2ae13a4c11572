// Blob rows (what the store holds) and repository links (who may serve it).
import { lookUp, lookupStatement, type LookupKey } from './lookup-keys.js';
import type { Db } from './pool.js';

/**
 * Links a blob to a repository, or refreshes the link's time: a blob linked just now is not garbage
 * until BERTH_GC_GRACE has passed again. Throws a foreign key violation (23503) when the blob row
 * went meanwhile (collected).
 */
export async function linkBlob(db: Db, repositoryId: number, digest: string): Promise<void> {
  await db.query(
    `INSERT INTO repository_blobs (repository_id, digest) VALUES ($1, $2)
     ON CONFLICT (repository_id, digest) DO UPDATE SET created_at = now()`,
    [repositoryId, digest],
  );
}

export async function unlinkBlob(db: Db, repositoryId: number, digest: string): Promise<boolean> {
  const { rowCount } = await db.query('DELETE FROM repository_blobs WHERE repository_id = $1 AND digest = $2', [
    repositoryId,
    digest,
  ]);
  return (rowCount ?? 0) > 0;
}

const LINKED_BLOBS = lookupStatement('find-linked-blobs', (keys) => `SELECT k.i, b.size FROM ${keys}
  JOIN repositories r ON r.name = k.repository
  JOIN repository_blobs rb ON rb.repository_id = r.id AND rb.digest = k.reference
  JOIN blobs b ON b.digest = rb.digest`);

/**
 * The sizes of blobs the named repositories may serve (reference: the digest), in the order of the
 * keys, undefined where the repository does not link the blob: one round trip for a batch of pulls.
 */
export function findLinkedBlobs(db: Db, keys: readonly LookupKey[]): Promise<({ size: number } | undefined)[]> {
  return lookUp(db, LINKED_BLOBS, keys);
}

/** The size of a blob the named repository may serve. */
export async function findLinkedBlob(db: Db, repository: string, digest: string): Promise<{ size: number } | undefined> {
  return (await findLinkedBlobs(db, [{ repository, reference: digest }]))[0];
}

/** A blob some repository links, whichever (anonymous mount). */
export async function findBlob(db: Db, digest: string): Promise<{ size: number } | undefined> {
  const { rows } = await db.query<{ size: number }>(
    'SELECT b.size FROM blobs b WHERE b.digest = $1 AND EXISTS (SELECT 1 FROM repository_blobs rb WHERE rb.digest = b.digest)',
    [digest],
  );
  return rows[0];
}

/** A blob one of the named repositories links (a mount without `from` under token auth). */
export async function findBlobLinkedInAny(db: Db, repositories: string[], digest: string): Promise<{ size: number } | undefined> {
  const { rows } = await db.query<{ size: number }>(
    `SELECT b.size FROM blobs b WHERE b.digest = $2 AND EXISTS (
       SELECT 1 FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id
       WHERE rb.digest = b.digest AND r.name = ANY($1::text[]))`,
    [repositories, digest],
  );
  return rows[0];
}

/** Which of these digests the repository may serve (manifest validation). */
export async function findLinkedDigests(db: Db, repositoryId: number, digests: string[]): Promise<Set<string>> {
  if (digests.length === 0) return new Set();
  const { rows } = await db.query<{ digest: string }>(
    'SELECT digest FROM repository_blobs WHERE repository_id = $1 AND digest = ANY($2::text[])',
    [repositoryId, digests],
  );
  return new Set(rows.map((r) => r.digest));
}

/**
 * Which of these digests the repository may serve, locking those links (FOR KEY SHARE) until the
 * transaction ends: the garbage collector cannot remove a link a manifest push is relying on.
 */
export async function lockLinkedDigests(tx: Db, repositoryId: number, digests: string[]): Promise<Set<string>> {
  if (digests.length === 0) return new Set();
  const { rows } = await tx.query<{ digest: string }>({
    name: 'lock-linked-digests',
    text: 'SELECT digest FROM repository_blobs WHERE repository_id = $1 AND digest = ANY($2::text[]) ORDER BY digest FOR KEY SHARE',
    values: [repositoryId, digests],
  });
  return new Set(rows.map((r) => r.digest));
}

/**
 * Finishes an upload in one statement (so one round trip, and atomic): the session row goes,
 * the blob row and the repository's link appear (an existing link's time is refreshed: uploaded
 * just now, it gets the full GC grace). False when the session was gone already
 * (cancelled meanwhile), in which case nothing changes.
 */
export async function recordUploadedBlob(db: Db, uploadId: string, digest: string, size: number): Promise<boolean> {
  const { rows } = await db.query<{ finished: number }>({
    name: 'record-uploaded-blob',
    text: `WITH finished AS (DELETE FROM uploads WHERE id = $1 RETURNING repository_id),
          blob AS (INSERT INTO blobs (digest, size) SELECT $2, $3 FROM finished ON CONFLICT (digest) DO NOTHING),
          link AS (INSERT INTO repository_blobs (repository_id, digest) SELECT repository_id, $2 FROM finished
                   ON CONFLICT (repository_id, digest) DO UPDATE SET created_at = now())
     SELECT count(*)::int AS finished FROM finished`,
    values: [uploadId, digest, size],
  });
  return rows[0]?.finished === 1;
}
