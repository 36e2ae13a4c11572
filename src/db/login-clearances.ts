// Lockout clearances (migration 0009): when an administrator last lifted the failed-login lockout
// of an account or a client address, shared by every replica.
import type { Db } from './pool.js';

export type LockoutKind = 'account' | 'address';

export interface LockoutKey {
  kind: LockoutKind;
  key: string;
}

const rowKey = ({ kind, key }: LockoutKey): string => `${kind}:${key}`;

/** Records a clearance of each key now (database time). */
export async function clearLockouts(db: Db, keys: readonly LockoutKey[]): Promise<void> {
  await db.query(
    `INSERT INTO login_clearances (key, cleared_at) SELECT k, now() FROM unnest($1::text[]) AS k
     ON CONFLICT (key) DO UPDATE SET cleared_at = now()`,
    [keys.map(rowKey)],
  );
}

/** How long ago (ms, by the database's clock) each of `keys` was last cleared, for the keys ever cleared. */
export async function lockoutClearanceAges(db: Db, keys: readonly LockoutKey[]): Promise<Map<string, number>> {
  const { rows } = await db.query<{ key: string; ageMs: number }>({
    name: 'lockout-clearance-ages',
    text: `SELECT key, (extract(epoch FROM now() - cleared_at) * 1000)::float8 AS "ageMs" FROM login_clearances WHERE key = ANY($1::text[])`,
    values: [keys.map(rowKey)],
  });
  return new Map(rows.map((r) => [r.key, r.ageMs]));
}

export { rowKey as lockoutRowKey };
