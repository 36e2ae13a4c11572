// Token signing keys shared by every replica: one active key signs; retired keys stay known so
// tokens they signed keep verifying until they expire.
import type pg from 'pg';
import type { JWK } from 'jose';
import type { Db } from './pool.js';

export interface SigningKeyRow {
  kid: string;
  algorithm: string;
  publicJwk: JWK;
  privatePem: string | null;
  createdAt: Date;
  retiredAt: Date | null;
}

const COLUMNS = `kid, algorithm, public_jwk AS "publicJwk", private_pem AS "privatePem", created_at AS "createdAt", retired_at AS "retiredAt"`;
/** Serialises key changes between replicas ("bkey" in ASCII; the migration lock is "berth"). */
const KEY_LOCK_ID = 0x626b6579;

export async function activeSigningKey(db: Db): Promise<SigningKeyRow | undefined> {
  const { rows } = await db.query<SigningKeyRow>(`SELECT ${COLUMNS} FROM signing_keys WHERE retired_at IS NULL`);
  return rows[0];
}

/** Keys still good for verification: the active one and those retired less than `graceMs` ago. */
export async function verificationKeys(db: Db, graceMs: number): Promise<SigningKeyRow[]> {
  const { rows } = await db.query<SigningKeyRow>(
    `SELECT ${COLUMNS} FROM signing_keys
     WHERE retired_at IS NULL OR retired_at > now() - make_interval(secs => $1::double precision / 1000)
     ORDER BY created_at DESC`,
    [graceMs],
  );
  return rows;
}

/**
 * Makes a key the active one under a transaction-scoped advisory lock, retiring the previous one.
 * `decide` sees the current active key and returns the key to activate, or undefined to keep it.
 */
export async function rotateSigningKey(
  client: pg.PoolClient,
  decide: (active: SigningKeyRow | undefined) => Promise<Omit<SigningKeyRow, 'createdAt' | 'retiredAt'> | undefined>,
): Promise<SigningKeyRow> {
  await client.query('SELECT pg_advisory_xact_lock($1)', [KEY_LOCK_ID]);
  const active = await activeSigningKey(client);
  const next = await decide(active);
  if (!next) return active!;
  await client.query('UPDATE signing_keys SET retired_at = now() WHERE retired_at IS NULL AND kid <> $1', [next.kid]);
  const { rows } = await client.query<SigningKeyRow>(
    `INSERT INTO signing_keys (kid, algorithm, public_jwk, private_pem) VALUES ($1, $2, $3, $4)
     ON CONFLICT (kid) DO UPDATE SET retired_at = NULL RETURNING ${COLUMNS}`,
    [next.kid, next.algorithm, JSON.stringify(next.publicJwk), next.privatePem],
  );
  return rows[0]!;
}
