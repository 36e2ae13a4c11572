// Account rows: users and robot accounts, one namespace of login names.
import type { Db } from './pool.js';

export type AccountKind = 'user' | 'robot';

export interface AccountRow {
  id: number;
  name: string;
  kind: AccountKind;
  secretHash: string;
  admin: boolean;
  description: string | null;
  expiresAt: Date | null;
  credentialVersion: number;
  createdAt: Date;
  updatedAt: Date;
}

const COLUMNS = `id, name, kind, secret_hash AS "secretHash", admin, description, expires_at AS "expiresAt",
  credential_version AS "credentialVersion", created_at AS "createdAt", updated_at AS "updatedAt"`;

export async function findAccount(db: Db, name: string): Promise<AccountRow | undefined> {
  const { rows } = await db.query<AccountRow>(`SELECT ${COLUMNS} FROM accounts WHERE name = $1`, [name]);
  return rows[0];
}

/** Inserts an account; undefined when the name is taken. */
export async function insertAccount(
  db: Db,
  account: { name: string; kind: AccountKind; secretHash: string; admin: boolean; description?: string | null; expiresAt?: Date | null },
): Promise<AccountRow | undefined> {
  const { rows } = await db.query<AccountRow>(
    `INSERT INTO accounts (name, kind, secret_hash, admin, description, expires_at) VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (name) DO NOTHING RETURNING ${COLUMNS}`,
    [account.name, account.kind, account.secretHash, account.admin, account.description ?? null, account.expiresAt ?? null],
  );
  return rows[0];
}

/** Replaces the secret (and so invalidates refresh tokens); undefined when there is no such account of that kind. */
export async function updateSecret(db: Db, name: string, kind: AccountKind, secretHash: string): Promise<AccountRow | undefined> {
  const { rows } = await db.query<AccountRow>(
    `UPDATE accounts SET secret_hash = $3, credential_version = credential_version + 1, updated_at = now()
     WHERE name = $1 AND kind = $2 RETURNING ${COLUMNS}`,
    [name, kind, secretHash],
  );
  return rows[0];
}

export async function updateAdmin(db: Db, name: string, admin: boolean): Promise<AccountRow | undefined> {
  const { rows } = await db.query<AccountRow>(
    `UPDATE accounts SET admin = $2, updated_at = now() WHERE name = $1 AND kind = 'user' RETURNING ${COLUMNS}`,
    [name, admin],
  );
  return rows[0];
}

/** Deletes an account of that kind (its permissions go with it); false when there was none. */
export async function deleteAccount(db: Db, name: string, kind: AccountKind): Promise<boolean> {
  const { rowCount } = await db.query('DELETE FROM accounts WHERE name = $1 AND kind = $2', [name, kind]);
  return (rowCount ?? 0) > 0;
}

export async function listAccounts(db: Db, kind: AccountKind): Promise<AccountRow[]> {
  const { rows } = await db.query<AccountRow>(`SELECT ${COLUMNS} FROM accounts WHERE kind = $1 ORDER BY name`, [kind]);
  return rows;
}
