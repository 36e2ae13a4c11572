// Repository rows: created on first push, looked up by name on every request.
import type { Db } from './pool.js';

/**
 * The repository's id, creating it on first push. Looks first and inserts only when missing: an
 * upsert would lock the row and write a new version of it on every push, making all pushes to
 * one repository wait for each other.
 */
export async function ensureRepository(db: Db, name: string): Promise<number> {
  const existing = await findRepositoryId(db, name);
  if (existing !== undefined) return existing;
  const { rows } = await db.query<{ id: number }>(
    'INSERT INTO repositories (name) VALUES ($1) ON CONFLICT (name) DO NOTHING RETURNING id',
    [name],
  );
  // Nothing returned: a concurrent push created it first, and it is committed and visible now.
  return rows[0]?.id ?? (await findRepositoryId(db, name))!;
}

export async function findRepositoryId(db: Db, name: string): Promise<number | undefined> {
  const { rows } = await db.query<{ id: number }>({
    name: 'find-repository-id',
    text: 'SELECT id FROM repositories WHERE name = $1',
    values: [name],
  });
  return rows[0]?.id;
}

/** Catalog page in lexical order after `last` (exclusive); `limit` rows at most. */
export async function listRepositoryNames(db: Db, options: { last?: string; limit: number }): Promise<string[]> {
  const { rows } = await db.query<{ name: string }>(
    `SELECT name FROM repositories WHERE ($1::text IS NULL OR name > $1) ORDER BY name LIMIT $2`,
    [options.last ?? null, options.limit],
  );
  return rows.map((r) => r.name);
}
