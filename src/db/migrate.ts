// Applies migrations/NNNN_name.sql in order, each in its own transaction, under a session advisory
// lock so replicas starting together queue instead of racing. Applied files are recorded with their
// sha256; an edited applied file stops start-up (migrations are forward-only). Numbers are handed
// out to branches in advance, so the files may have gaps while a branch is open; what must never
// happen is applying a file numbered below one already applied (it would run out of order).
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';

/** Arbitrary constant shared by every Berth process: "berth" in ASCII. */
const MIGRATION_LOCK_ID = 0x6265727468;
const NO_TRANSACTION_MARKER = '-- migrate:no-transaction';

export const DEFAULT_MIGRATIONS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../migrations');

export interface MigrationFile {
  id: number;
  name: string;
  sql: string;
  sha256: string;
}

export class MigrationError extends Error {
  override name = 'MigrationError';
}

export async function loadMigrationFiles(dir: string): Promise<MigrationFile[]> {
  const names = (await readdir(dir)).filter((n) => n.endsWith('.sql')).sort();
  const files: MigrationFile[] = [];
  for (const name of names) {
    const m = /^(\d+)_[\w-]+\.sql$/.exec(name);
    if (!m) throw new MigrationError(`migration file name must be NNNN_name.sql: ${name}`);
    const sql = await readFile(path.join(dir, name), 'utf8');
    files.push({ id: Number(m[1]), name, sql, sha256: createHash('sha256').update(sql).digest('hex') });
  }
  files.sort((a, b) => a.id - b.id);
  files.forEach((f, i) => {
    const previous = files[i - 1];
    if (f.id < 1 || (previous !== undefined && previous.id === f.id)) {
      throw new MigrationError(`migration ids must be unique and start at 1: ${f.name}`);
    }
  });
  return files;
}

/** Applies what is missing; returns the names it applied. */
export async function migrate(pool: pg.Pool, dir = DEFAULT_MIGRATIONS_DIR): Promise<string[]> {
  const files = await loadMigrationFiles(dir);
  const client = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_ID]);
    try {
      await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
        id integer PRIMARY KEY, name text NOT NULL, sha256 text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now())`);
      const { rows } = await client.query<{ id: number; name: string; sha256: string }>(
        'SELECT id, name, sha256 FROM schema_migrations ORDER BY id',
      );
      const applied = new Map(rows.map((r) => [r.id, r]));
      for (const row of rows) {
        const file = files.find((f) => f.id === row.id);
        if (!file) throw new MigrationError(`migration ${row.name} was applied but its file is missing`);
        if (file.sha256 !== row.sha256) {
          throw new MigrationError(`migration ${file.name} was edited after it was applied; add a new migration instead`);
        }
      }
      const highestApplied = Math.max(0, ...applied.keys());
      const done: string[] = [];
      for (const file of files) {
        if (applied.has(file.id)) continue;
        if (file.id < highestApplied) {
          throw new MigrationError(
            `migration ${file.name} is new but a later one (${applied.get(highestApplied)!.name}) was applied already; renumber it after the last applied migration`,
          );
        }
        await applyOne(client, file);
        done.push(file.name);
      }
      return done;
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_ID]);
    }
  } finally {
    client.release();
  }
}

async function applyOne(client: pg.PoolClient, file: MigrationFile): Promise<void> {
  const inTransaction = !file.sql.trimStart().startsWith(NO_TRANSACTION_MARKER);
  try {
    if (inTransaction) await client.query('BEGIN');
    await client.query(file.sql);
    await client.query('INSERT INTO schema_migrations (id, name, sha256) VALUES ($1, $2, $3)', [
      file.id,
      file.name,
      file.sha256,
    ]);
    if (inTransaction) await client.query('COMMIT');
  } catch (err) {
    if (inTransaction) await client.query('ROLLBACK').catch(() => {});
    throw new MigrationError(`migration ${file.name} failed: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Migration files not applied to this database (readiness: a replica running newer code than the
 * schema must not take traffic). Throws when the database cannot be asked.
 */
export async function pendingMigrations(pool: pg.Pool, files: readonly MigrationFile[]): Promise<string[]> {
  const { rows } = await pool.query<{ regclass: string | null }>("SELECT to_regclass('schema_migrations')::text AS regclass");
  if (!rows[0]?.regclass) return files.map((f) => f.name);
  const applied = await pool.query<{ id: number }>('SELECT id FROM schema_migrations');
  const ids = new Set(applied.rows.map((r) => r.id));
  return files.filter((f) => !ids.has(f.id)).map((f) => f.name);
}

/** True when every migration file has been applied. */
export async function isFullyMigrated(pool: pg.Pool, dir = DEFAULT_MIGRATIONS_DIR): Promise<boolean> {
  return (await pendingMigrations(pool, await loadMigrationFiles(dir))).length === 0;
}
