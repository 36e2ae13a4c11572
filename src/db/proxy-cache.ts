// Pull-through cache rows (migration 0013): which repositories are cached from an upstream, when
// they were last pulled, and when each cached tag was last checked upstream.
import type pg from 'pg';
import { withTransaction, type Db } from './pool.js';

/** Marks the repository as cached from `upstream` and as pulled now. */
export async function markCachedRepository(db: Db, repositoryId: number, prefix: string, upstream: string): Promise<void> {
  await db.query(
    `INSERT INTO proxy_repositories (repository_id, prefix, upstream) VALUES ($1, $2, $3)
     ON CONFLICT (repository_id) DO UPDATE SET last_pulled_at = now(), upstream = EXCLUDED.upstream`,
    [repositoryId, prefix, upstream],
  );
}

/**
 * Records a pull of a cached repository. Written at most once a minute per repository: a busy
 * mirror would otherwise rewrite the row on every pull, and keep periods are days.
 */
export async function touchCachedRepository(db: Db, repository: string): Promise<void> {
  await db.query({
    name: 'touch-cached-repository',
    text: `UPDATE proxy_repositories p SET last_pulled_at = now() FROM repositories r
           WHERE r.name = $1 AND p.repository_id = r.id AND p.last_pulled_at < now() - interval '1 minute'`,
    values: [repository],
  });
}

export interface TagCheck {
  digest: string;
  /** ms since the upstream was last asked about the tag. */
  ageMs: number;
}

export async function findTagCheck(db: Db, repository: string, tag: string): Promise<TagCheck | undefined> {
  const { rows } = await db.query<{ digest: string; age_ms: number }>({
    name: 'find-proxy-tag-check',
    text: `SELECT c.digest, (extract(epoch FROM now() - c.checked_at) * 1000)::float8 AS age_ms
           FROM proxy_tag_checks c JOIN repositories r ON r.id = c.repository_id WHERE r.name = $1 AND c.tag = $2`,
    values: [repository, tag],
  });
  const row = rows[0];
  return row ? { digest: row.digest, ageMs: row.age_ms } : undefined;
}

export async function recordTagCheck(db: Db, repositoryId: number, tag: string, digest: string): Promise<void> {
  await db.query(
    `INSERT INTO proxy_tag_checks (repository_id, tag, digest) VALUES ($1, $2, $3)
     ON CONFLICT (repository_id, tag) DO UPDATE SET digest = EXCLUDED.digest, checked_at = now()`,
    [repositoryId, tag, digest],
  );
}

/** Whether a manifest of the repository references the digest (a layer or config it may fetch). */
export async function isReferencedInRepository(db: Db, repository: string, digest: string): Promise<boolean> {
  const { rows } = await db.query(
    `SELECT 1 FROM manifest_references mr JOIN repositories r ON r.id = mr.repository_id
     WHERE r.name = $1 AND mr.child_digest = $2 LIMIT 1`,
    [repository, digest],
  );
  return rows.length > 0;
}

export interface CachedRepositoryInfo {
  prefix: string;
  upstream: string;
  lastPulledAt: Date;
}

/** Where the named repositories were cached from, for listings (absent: the team's own). */
export async function findCachedRepositories(db: Db, names: string[]): Promise<Map<string, CachedRepositoryInfo>> {
  if (names.length === 0) return new Map();
  const { rows } = await db.query<{ name: string; prefix: string; upstream: string; last_pulled_at: Date }>(
    `SELECT r.name, p.prefix, p.upstream, p.last_pulled_at FROM proxy_repositories p JOIN repositories r ON r.id = p.repository_id
     WHERE r.name = ANY($1::text[])`,
    [names],
  );
  return new Map(rows.map((r) => [r.name, { prefix: r.prefix, upstream: r.upstream, lastPulledAt: r.last_pulled_at }]));
}

/** The tag history's actor for tags garbage collection removes from a cache past its keep period. */
export const EVICTION_ACTOR = 'gc:proxy-keep';

/**
 * Evicts cached repositories nobody pulled within their keep period: their tags, manifests and
 * blob links go in one transaction, and each removed tag gets a `delete` event in the tag history
 * (which keeps its rows: a team sees what the upstream tag pointed to and can pin that digest;
 * tag history retention does not pin a cache's copies, the upstream has them), so the collector
 * then reclaims the bytes no other repository links. A pull racing with this finds the content
 * gone and fetches it again. Only rows of proxy_repositories are considered: the team's own
 * repositories are never touched. Returns the evicted repositories' names.
 */
export async function evictUnpulledRepositories(pool: pg.Pool, prefix: string, keepMs: number): Promise<string[]> {
  return withTransaction(pool, async (tx) => {
    const { rows: stale } = await tx.query<{ id: number; name: string }>(
      `SELECT r.id, r.name FROM proxy_repositories p JOIN repositories r ON r.id = p.repository_id
       WHERE p.prefix = $1 AND p.last_pulled_at < now() - make_interval(secs => $2::float8 / 1000)
       FOR UPDATE OF p SKIP LOCKED`,
      [prefix, keepMs],
    );
    if (stale.length === 0) return [];
    const ids = stale.map((r) => r.id);
    // The tags' locks (as lockTag takes them, in one round trip): a tag changing meanwhile (a pull
    // fetching it anew) is either recorded before this delete or after it, never with its revision.
    await tx.query(
      `SELECT pg_advisory_xact_lock((repository_id % 2147483648)::int, hashtext(name))
       FROM (SELECT repository_id, name FROM tags WHERE repository_id = ANY($1::bigint[]) ORDER BY repository_id, name) t`,
      [ids],
    );
    await tx.query(
      `WITH t AS (DELETE FROM tags WHERE repository_id = ANY($1::bigint[]) RETURNING repository_id, name, manifest_digest),
       e AS (INSERT INTO tag_events (repository_id, tag, revision, digest, previous_digest, action, actor, reason)
         SELECT t.repository_id, t.name,
           coalesce((SELECT max(x.revision) FROM tag_events x WHERE x.repository_id = t.repository_id AND x.tag = t.name), 0) + 1,
           NULL, t.manifest_digest, 'delete', $2, $3
         FROM t),
       m AS (DELETE FROM manifests WHERE repository_id = ANY($1::bigint[])),
       c AS (DELETE FROM proxy_tag_checks WHERE repository_id = ANY($1::bigint[])),
       b AS (DELETE FROM repository_blobs WHERE repository_id = ANY($1::bigint[]))
       SELECT 1`,
      [ids, EVICTION_ACTOR, `evicted from the ${prefix}/ cache: not pulled within its keep period`],
    );
    return stale.map((r) => r.name);
  });
}
