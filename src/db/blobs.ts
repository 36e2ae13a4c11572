// Blob rows (what the store holds) and repository links (who may serve it).
import type { Db } from './pool.js';

export async function upsertBlob(db: Db, digest: string, size: number): Promise<void> {
  await db.query('INSERT INTO blobs (digest, size) VALUES ($1, $2) ON CONFLICT (digest) DO NOTHING', [digest, size]);
}

export async function linkBlob(db: Db, repositoryId: number, digest: string): Promise<void> {
  await db.query(
    'INSERT INTO repository_blobs (repository_id, digest) VALUES ($1, $2) ON CONFLICT DO NOTHING',
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

/** The size of a blob the named repository may serve: one round trip on the pull path. */
export async function findLinkedBlob(db: Db, repository: string, digest: string): Promise<{ size: number } | undefined> {
  const { rows } = await db.query<{ size: number }>({
    name: 'find-linked-blob',
    text: `SELECT b.size FROM repositories r
           JOIN repository_blobs rb ON rb.repository_id = r.id AND rb.digest = $2
           JOIN blobs b ON b.digest = rb.digest
           WHERE r.name = $1`,
    values: [repository, digest],
  });
  return rows[0];
}

/** A blob some repository links, whichever (anonymous mount). */
export async function findBlob(db: Db, digest: string): Promise<{ size: number } | undefined> {
  const { rows } = await db.query<{ size: number }>(
    'SELECT b.size FROM blobs b WHERE b.digest = $1 AND EXISTS (SELECT 1 FROM repository_blobs rb WHERE rb.digest = b.digest)',
    [digest],
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
