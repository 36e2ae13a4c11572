// Manifest rows (verbatim bytes) and what they reference.
import type { ReferenceKind } from '../registry/manifest.js';
import { lookUp, lookupStatement, type LookupKey } from './lookup-keys.js';
import type { Db } from './pool.js';

export interface StoredManifest {
  digest: string;
  mediaType: string;
  size: number;
  payload: Buffer;
}

export interface NewManifest {
  repositoryId: number;
  digest: string;
  mediaType: string;
  artifactType: string | null;
  subjectDigest: string | null;
  annotations: Record<string, string> | null;
  payload: Buffer;
  references: { kind: ReferenceKind; digest: string }[];
}

/**
 * Inserts a manifest and its references in one statement (one round trip); pushing the same bytes
 * again changes nothing. Must run in a transaction: an existing row is locked (FOR KEY SHARE) until
 * it ends, so the garbage collector cannot delete it between this push and the tags it is about to
 * get; a row deleted meanwhile is inserted again. The references' foreign key is checked at the end
 * of the statement, when the manifest row is there.
 */
export async function insertManifest(db: Db, m: NewManifest): Promise<void> {
  for (;;) {
    const { rows } = await db.query<{ inserted: boolean }>({
      name: 'insert-manifest',
      text: `WITH inserted AS (
         INSERT INTO manifests (repository_id, digest, media_type, artifact_type, subject_digest, annotations, size, payload)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (repository_id, digest) DO NOTHING RETURNING 1
       ),
       refs AS (
         INSERT INTO manifest_references (repository_id, manifest_digest, kind, child_digest)
         SELECT $1, $2, kind, child FROM unnest($9::text[], $10::text[]) AS r(kind, child)
         WHERE EXISTS (SELECT 1 FROM inserted) ON CONFLICT DO NOTHING
       )
       SELECT EXISTS (SELECT 1 FROM inserted) AS inserted`,
      values: [
        m.repositoryId,
        m.digest,
        m.mediaType,
        m.artifactType,
        m.subjectDigest,
        m.annotations,
        m.payload.length,
        m.payload,
        m.references.map((r) => r.kind),
        m.references.map((r) => r.digest),
      ],
    });
    if (rows[0]?.inserted) return;
    const existing = await db.query('SELECT 1 FROM manifests WHERE repository_id = $1 AND digest = $2 FOR KEY SHARE', [m.repositoryId, m.digest]);
    if (existing.rows.length === 1) return;
  }
}

/** A manifest as HEAD answers it: the payload is not read. */
export type ManifestHead = Omit<StoredManifest, 'payload'>;

/** A manifest asked for by repository name and tag, or repository name and digest. */
export type ManifestKey = LookupKey;

const HEAD_COLUMNS = 'm.digest, m.media_type AS "mediaType", m.size';
const FULL_COLUMNS = `${HEAD_COLUMNS}, m.payload`;

const byDigest = (name: string, columns: string) =>
  lookupStatement(name, (keys) => `SELECT k.i, ${columns} FROM ${keys}
    JOIN repositories r ON r.name = k.repository
    JOIN manifests m ON m.repository_id = r.id AND m.digest = k.reference`);

const byTag = (name: string, columns: string) =>
  lookupStatement(name, (keys) => `SELECT k.i, ${columns} FROM ${keys}
    JOIN repositories r ON r.name = k.repository
    JOIN tags t ON t.repository_id = r.id AND t.name = k.reference
    JOIN manifests m ON m.repository_id = r.id AND m.digest = t.manifest_digest`);

const MANIFESTS_BY_DIGEST = byDigest('find-manifests-by-digest', FULL_COLUMNS);
const MANIFESTS_BY_TAG = byTag('find-manifests-by-tag', FULL_COLUMNS);
const HEADS_BY_DIGEST = byDigest('find-manifest-heads-by-digest', HEAD_COLUMNS);
const HEADS_BY_TAG = byTag('find-manifest-heads-by-tag', HEAD_COLUMNS);

export function findManifestsByDigest(db: Db, keys: readonly ManifestKey[]): Promise<(StoredManifest | undefined)[]> {
  return lookUp(db, MANIFESTS_BY_DIGEST, keys);
}

export function findManifestsByTag(db: Db, keys: readonly ManifestKey[]): Promise<(StoredManifest | undefined)[]> {
  return lookUp(db, MANIFESTS_BY_TAG, keys);
}

export function findManifestHeadsByDigest(db: Db, keys: readonly ManifestKey[]): Promise<(ManifestHead | undefined)[]> {
  return lookUp(db, HEADS_BY_DIGEST, keys);
}

export function findManifestHeadsByTag(db: Db, keys: readonly ManifestKey[]): Promise<(ManifestHead | undefined)[]> {
  return lookUp(db, HEADS_BY_TAG, keys);
}

/** Which of these digests are manifests of the repository (index validation). */
export async function findExistingManifestDigests(db: Db, repositoryId: number, digests: string[]): Promise<Set<string>> {
  if (digests.length === 0) return new Set();
  const { rows } = await db.query<{ digest: string }>(
    'SELECT digest FROM manifests WHERE repository_id = $1 AND digest = ANY($2::text[])',
    [repositoryId, digests],
  );
  return new Set(rows.map((r) => r.digest));
}

/** Like findExistingManifestDigests, locking them (FOR KEY SHARE) until the transaction ends. */
export async function lockExistingManifestDigests(tx: Db, repositoryId: number, digests: string[]): Promise<Set<string>> {
  if (digests.length === 0) return new Set();
  const { rows } = await tx.query<{ digest: string }>(
    'SELECT digest FROM manifests WHERE repository_id = $1 AND digest = ANY($2::text[]) ORDER BY digest FOR KEY SHARE',
    [repositoryId, digests],
  );
  return new Set(rows.map((r) => r.digest));
}

export async function deleteManifest(db: Db, repositoryId: number, digest: string): Promise<boolean> {
  const { rowCount } = await db.query('DELETE FROM manifests WHERE repository_id = $1 AND digest = $2', [
    repositoryId,
    digest,
  ]);
  return rowCount === 1;
}

export interface ReferrerRow {
  digest: string;
  mediaType: string;
  size: number;
  artifactType: string | null;
  annotations: Record<string, string> | null;
}

/** Manifests of the repository whose subject is `subject`, optionally of one artifact type. */
export async function listReferrers(
  db: Db,
  repository: string,
  subject: string,
  artifactType: string | undefined,
): Promise<ReferrerRow[]> {
  const { rows } = await db.query<ReferrerRow>(
    `SELECT m.digest, m.media_type AS "mediaType", m.size, m.artifact_type AS "artifactType", m.annotations
     FROM repositories r JOIN manifests m ON m.repository_id = r.id AND m.subject_digest = $2
     WHERE r.name = $1 AND ($3::text IS NULL OR m.artifact_type = $3)
     ORDER BY m.created_at, m.digest`,
    [repository, subject, artifactType ?? null],
  );
  return rows;
}

/**
 * A manifest of the repository by id (the management API works on repository ids). With `lock`
 * (in a transaction), the row is held FOR KEY SHARE until it ends: a rollback about to tag it keeps
 * the garbage collector off it.
 */
export async function findManifestInRepository(
  db: Db,
  repositoryId: number,
  digest: string,
  options: { lock?: boolean } = {},
): Promise<StoredManifest | undefined> {
  const { rows } = await db.query<StoredManifest>(
    `SELECT digest, media_type AS "mediaType", size, payload FROM manifests WHERE repository_id = $1 AND digest = $2${options.lock ? ' FOR KEY SHARE' : ''}`,
    [repositoryId, digest],
  );
  return rows[0];
}
