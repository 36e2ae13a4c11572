// Upload sessions: which repository, how many bytes are staged, and the store's state.
import type { UploadBackendState } from '../storage/blob-store.js';
import { blobGuardUnlock } from './blob-guard.js';
import type { Db } from './pool.js';

export interface UploadRow {
  id: string;
  repositoryId: number;
  repository: string;
  offset: number;
  hashAlgorithm: string;
  /** Saved running digest of the first `offset` bytes, when the last writer could save one. */
  hashState: Buffer | null;
  backendState: UploadBackendState;
  createdAt: Date;
}

export async function insertUpload(
  db: Db,
  upload: { id: string; repositoryId: number; hashAlgorithm: string; backendState: UploadBackendState },
): Promise<void> {
  await db.query('INSERT INTO uploads (id, repository_id, hash_algorithm, backend_state) VALUES ($1, $2, $3, $4)', [
    upload.id,
    upload.repositoryId,
    upload.hashAlgorithm,
    upload.backendState,
  ]);
}

/**
 * Inserts the upload for a repository known by name, looked up in the same statement (one round
 * trip instead of two on every push); false when the repository does not exist yet.
 */
export async function insertUploadByName(
  db: Db,
  upload: { id: string; repository: string; hashAlgorithm: string; backendState: UploadBackendState },
): Promise<boolean> {
  const { rowCount } = await db.query({
    name: 'insert-upload-by-name',
    text: `INSERT INTO uploads (id, repository_id, hash_algorithm, backend_state)
     SELECT $1, id, $3, $4 FROM repositories WHERE name = $2`,
    values: [upload.id, upload.repository, upload.hashAlgorithm, upload.backendState],
  });
  return rowCount === 1;
}

interface UploadRecord {
  id: string;
  repository_id: number;
  name: string;
  offset: number;
  hash_algorithm: string;
  hash_state: Buffer | null;
  backend_state: UploadBackendState;
  created_at: Date;
}

function toUploadRow(row: UploadRecord): UploadRow {
  return {
    id: row.id,
    repositoryId: row.repository_id,
    repository: row.name,
    offset: row.offset,
    hashAlgorithm: row.hash_algorithm,
    hashState: row.hash_state,
    backendState: row.backend_state,
    createdAt: row.created_at,
  };
}

/** The upload, when it exists and belongs to the named repository. */
export async function findUpload(db: Db, repository: string, id: string): Promise<UploadRow | undefined> {
  const { rows } = await db.query<UploadRecord>({
    name: 'find-upload',
    text: `SELECT u.id, u.repository_id, r.name, u."offset", u.hash_algorithm, u.hash_state, u.backend_state, u.created_at
     FROM uploads u JOIN repositories r ON r.id = u.repository_id WHERE u.id = $1 AND r.name = $2`,
    values: [id, repository],
  });
  return rows[0] && toUploadRow(rows[0]);
}

/**
 * Takes the upload's write lock on `client` if nobody holds it: a session-level advisory lock,
 * so it is released when the holder unlocks, and also the moment its process dies (the
 * connection closes), so a crashed replica never blocks the upload's resume.
 */
export async function tryLockUpload(client: Db, id: string): Promise<boolean> {
  const { rows } = await client.query<{ locked: boolean }>({
    name: 'try-lock-upload',
    text: "SELECT pg_try_advisory_lock(hashtextextended('upload:' || $1, 0)) AS locked",
    values: [id],
  });
  return rows[0]?.locked === true;
}

/**
 * tryLockUpload, then the upload read under the lock, in one round trip (the function of
 * migrations/0006_lock_upload.sql). With `guardDigest` (a closing PUT, whose digest is known from
 * its first byte) it also takes that blob's shared guard (src/db/blob-guard.ts), waiting while
 * garbage collection holds it. Undefined: another request holds the upload, nothing was taken.
 * Otherwise the locks are held, to be released by unlockUpload, and the upload is given, or null
 * when there is no such upload in that repository. A small blob's push is a handful of round
 * trips; this saves two of them.
 */
export async function lockAndLoadUpload(
  client: Db,
  id: string,
  repository: string,
  guardDigest: string | null,
): Promise<UploadRow | null | undefined> {
  const { rows } = await client.query<{ locked: boolean } & UploadRecord>({
    name: 'lock-and-load-upload',
    text: 'SELECT * FROM berth_lock_upload($1, $2, $3)',
    values: [id, repository, guardDigest],
  });
  const row = rows[0]!;
  if (!row.locked) return undefined;
  return row.id === null ? null : toUploadRow(row);
}

/** Releases what tryLockUpload or lockAndLoadUpload took: the upload's lock, and the blob's guard when one was named. */
export async function unlockUpload(client: Db, id: string, guardDigest: string | null = null): Promise<void> {
  await client.query({
    name: 'unlock-upload',
    text: `SELECT pg_advisory_unlock(hashtextextended('upload:' || $1, 0)),
     CASE WHEN $2::text IS NOT NULL THEN ${blobGuardUnlock('$2')} END`,
    values: [id, guardDigest],
  });
}

/**
 * Records bytes appended at `from`, with the running digest state that covers them (null when
 * none could be saved); false when the upload vanished (cancelled) or moved meanwhile.
 */
export async function advanceUpload(
  db: Db,
  id: string,
  progress: { from: number; to: number; backendState: UploadBackendState; hashAlgorithm: string; hashState: Buffer | null },
): Promise<boolean> {
  const { rowCount } = await db.query({
    name: 'advance-upload',
    text: `UPDATE uploads SET "offset" = $3, backend_state = $4, hash_algorithm = $5, hash_state = $6, updated_at = now()
     WHERE id = $1 AND "offset" = $2`,
    values: [id, progress.from, progress.to, progress.backendState, progress.hashAlgorithm, progress.hashState],
  });
  return rowCount === 1;
}

export async function deleteUpload(db: Db, id: string): Promise<boolean> {
  const { rowCount } = await db.query('DELETE FROM uploads WHERE id = $1', [id]);
  return rowCount === 1;
}

/** The upload's backend state if it is still untouched for longer than `olderThanMs`, else undefined. */
export async function findStaleUpload(db: Db, id: string, olderThanMs: number): Promise<UploadBackendState | undefined> {
  const { rows } = await db.query<{ backend_state: UploadBackendState }>(
    'SELECT backend_state FROM uploads WHERE id = $1 AND updated_at < now() - make_interval(secs => $2)',
    [id, olderThanMs / 1000],
  );
  return rows[0]?.backend_state;
}

/** Upload sessions untouched for longer than `olderThanMs`, oldest first. */
export async function listStaleUploads(
  db: Db,
  olderThanMs: number,
  limit: number,
): Promise<{ id: string; backendState: UploadBackendState }[]> {
  const { rows } = await db.query<{ id: string; backend_state: UploadBackendState }>(
    `SELECT id, backend_state FROM uploads WHERE updated_at < now() - make_interval(secs => $1)
     ORDER BY updated_at LIMIT $2`,
    [olderThanMs / 1000, limit],
  );
  return rows.map((r) => ({ id: r.id, backendState: r.backend_state }));
}
