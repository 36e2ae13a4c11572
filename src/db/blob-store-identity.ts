// registry_blob_store: the one row naming the blob store this registry was created with.
import type { Db } from './pool.js';

/** The recorded identity; undefined before the first start recorded one (or before migration 0008). */
export async function recordedBlobStore(db: Db): Promise<string | undefined> {
  const table = await db.query<{ regclass: string | null }>("SELECT to_regclass('registry_blob_store')::text AS regclass");
  if (!table.rows[0]?.regclass) return undefined;
  const { rows } = await db.query<{ identity: string }>('SELECT identity FROM registry_blob_store');
  return rows[0]?.identity;
}

/** Records identity unless one is recorded already; returns the one that is. */
export async function recordBlobStore(db: Db, identity: string): Promise<string> {
  await db.query('INSERT INTO registry_blob_store (identity) VALUES ($1) ON CONFLICT (singleton) DO NOTHING', [identity]);
  return (await recordedBlobStore(db)) ?? identity;
}
