// Permission rows: actions an account (or anonymous, account NULL) may take on matching repositories.
import type { Db } from './pool.js';

export interface PermissionRow {
  id: number;
  /** The account's name; null for anonymous. */
  account: string | null;
  pattern: string;
  actions: string[];
}

const SELECT = `SELECT p.id, a.name AS account, p.pattern, p.actions FROM permissions p LEFT JOIN accounts a ON a.id = p.account_id`;

/** The rows that apply to `account` (its own and anonymous ones); anonymous rows only for undefined. */
export async function permissionsFor(db: Db, account: string | undefined): Promise<PermissionRow[]> {
  const { rows } = await db.query<PermissionRow>({
    name: 'permissions-for',
    text: `${SELECT} WHERE p.account_id IS NULL OR ($1::text IS NOT NULL AND a.name = $1)`,
    values: [account ?? null],
  });
  return rows;
}

/** Every row, or those of one account (null: anonymous ones). */
export async function listPermissions(db: Db, account?: string | null): Promise<PermissionRow[]> {
  if (account === undefined) return (await db.query<PermissionRow>(`${SELECT} ORDER BY a.name NULLS FIRST, p.pattern`)).rows;
  const { rows } = await db.query<PermissionRow>(
    `${SELECT} WHERE ($1::text IS NULL AND p.account_id IS NULL) OR a.name = $1 ORDER BY p.pattern`,
    [account],
  );
  return rows;
}

/**
 * Sets what `account` (null: anonymous) may do on `pattern`, replacing earlier actions for that
 * pattern. Undefined when the account does not exist.
 */
export async function upsertPermission(db: Db, account: string | null, pattern: string, actions: string[]): Promise<PermissionRow | undefined> {
  const { rows } = await db.query<{ id: number }>(
    `INSERT INTO permissions (account_id, pattern, actions)
     SELECT a.id, $2, $3::text[] FROM (SELECT NULL::bigint AS id WHERE $1::text IS NULL
                                       UNION ALL SELECT id FROM accounts WHERE name = $1) a
     ON CONFLICT (COALESCE(account_id, 0), pattern) DO UPDATE SET actions = EXCLUDED.actions
     RETURNING id`,
    [account, pattern, actions],
  );
  return rows[0] ? { id: rows[0].id, account, pattern, actions } : undefined;
}

export async function deletePermission(db: Db, id: number): Promise<boolean> {
  const { rowCount } = await db.query('DELETE FROM permissions WHERE id = $1', [id]);
  return (rowCount ?? 0) > 0;
}

/** Removes the row for (account, pattern); false when there was none. */
export async function deletePermissionFor(db: Db, account: string | null, pattern: string): Promise<boolean> {
  const { rowCount } = await db.query(
    `DELETE FROM permissions p WHERE p.pattern = $2 AND (($1::text IS NULL AND p.account_id IS NULL)
       OR p.account_id = (SELECT id FROM accounts WHERE name = $1))`,
    [account, pattern],
  );
  return (rowCount ?? 0) > 0;
}
