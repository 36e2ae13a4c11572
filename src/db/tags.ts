// Tags and their history. Every change of a tag goes through setTag/removeTag, which write the
// tag_events row in the caller's transaction, so the history can never miss a change.
import type { Db } from './pool.js';

export interface TagChangeContext {
  actor: string;
  clientAddr?: string | undefined;
  userAgent?: string | undefined;
  reason?: string | undefined;
}

export type TagAction = 'push' | 'move' | 'delete' | 'rollback';

/** Serializes changes of one tag across transactions and replicas until the transaction ends. */
async function lockTag(tx: Db, repositoryId: number, tag: string): Promise<void> {
  await tx.query('SELECT pg_advisory_xact_lock($1::int, hashtext($2))', [repositoryId % 2 ** 31, tag]);
}

async function recordEvent(
  tx: Db,
  e: { repositoryId: number; tag: string; digest: string | null; previous: string | null; action: TagAction },
  ctx: TagChangeContext,
): Promise<void> {
  await tx.query(
    `INSERT INTO tag_events (repository_id, tag, digest, previous_digest, action, actor, client_addr, user_agent, reason)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
    [e.repositoryId, e.tag, e.digest, e.previous, e.action, ctx.actor, ctx.clientAddr ?? null, ctx.userAgent ?? null, ctx.reason ?? null],
  );
}

/**
 * Points a tag at a manifest. A re-push of the digest the tag already has is not a change and
 * records nothing. Must run inside a transaction.
 */
export async function setTag(
  tx: Db,
  repositoryId: number,
  tag: string,
  digest: string,
  ctx: TagChangeContext,
  action: 'push' | 'rollback' = 'push',
): Promise<{ previous: string | null; changed: boolean }> {
  await lockTag(tx, repositoryId, tag);
  const { rows } = await tx.query<{ manifest_digest: string }>(
    'SELECT manifest_digest FROM tags WHERE repository_id = $1 AND name = $2',
    [repositoryId, tag],
  );
  const previous = rows[0]?.manifest_digest ?? null;
  if (previous === digest) return { previous, changed: false };
  await tx.query(
    `INSERT INTO tags (repository_id, name, manifest_digest) VALUES ($1, $2, $3)
     ON CONFLICT (repository_id, name) DO UPDATE SET manifest_digest = EXCLUDED.manifest_digest, updated_at = now()`,
    [repositoryId, tag, digest],
  );
  const recorded: TagAction = action === 'rollback' ? 'rollback' : previous === null ? 'push' : 'move';
  await recordEvent(tx, { repositoryId, tag, digest, previous, action: recorded }, ctx);
  return { previous, changed: true };
}

/** Removes a tag; false when there was none. Must run inside a transaction. */
export async function removeTag(tx: Db, repositoryId: number, tag: string, ctx: TagChangeContext): Promise<boolean> {
  await lockTag(tx, repositoryId, tag);
  const { rows } = await tx.query<{ manifest_digest: string }>(
    'DELETE FROM tags WHERE repository_id = $1 AND name = $2 RETURNING manifest_digest',
    [repositoryId, tag],
  );
  const previous = rows[0]?.manifest_digest;
  if (!previous) return false;
  await recordEvent(tx, { repositoryId, tag, digest: null, previous, action: 'delete' }, ctx);
  return true;
}

export async function listTagsOfManifest(db: Db, repositoryId: number, digest: string): Promise<string[]> {
  const { rows } = await db.query<{ name: string }>(
    'SELECT name FROM tags WHERE repository_id = $1 AND manifest_digest = $2 ORDER BY name',
    [repositoryId, digest],
  );
  return rows.map((r) => r.name);
}

/** Tag names in lexical (byte) order after `last`, exclusive; `limit` rows at most. */
export async function listTagNames(db: Db, repositoryId: number, options: { last?: string; limit: number | null }): Promise<string[]> {
  const { rows } = await db.query<{ name: string }>(
    `SELECT name FROM tags WHERE repository_id = $1 AND ($2::text IS NULL OR name > $2)
     ORDER BY name LIMIT $3`,
    [repositoryId, options.last ?? null, options.limit],
  );
  return rows.map((r) => r.name);
}
