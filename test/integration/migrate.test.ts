import assert from 'node:assert/strict';
import { appendFile, cp, mkdtemp, readdir, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { createPool } from '../../src/db/pool.js';
import { DEFAULT_MIGRATIONS_DIR, MigrationError, isFullyMigrated, loadMigrationFiles, migrate } from '../../src/db/migrate.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

/** A brand-new database with nothing in it (not cloned from the migrated template). */
const createEmptyDatabase = () => createTestDatabase({ empty: true });

/** A private copy of migrations/ that a test may edit. */
async function copyMigrations(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'berth-migrations-'));
  await cp(DEFAULT_MIGRATIONS_DIR, dir, { recursive: true });
  return dir;
}

async function appliedRows(pool: pg.Pool): Promise<{ id: number; name: string }[]> {
  const { rows } = await pool.query<{ id: number; name: string }>('SELECT id, name FROM schema_migrations ORDER BY id');
  return rows;
}

async function tableExists(pool: pg.Pool, table: string): Promise<boolean> {
  const { rows } = await pool.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [table]);
  return rows[0]?.t != null;
}

const realFiles = async () => (await readdir(DEFAULT_MIGRATIONS_DIR)).filter((f) => f.endsWith('.sql')).sort();
/** The name a migration added after the real ones would have (numbers follow on from theirs). */
/** A file numbered after every real migration (numbers may have gaps). */
const nextFile = async (name: string) => `${String(Math.max(0, ...(await realFiles()).map((f) => Number.parseInt(f, 10))) + 1).padStart(4, '0')}_${name}.sql`;

describe('migrate (db/migrate) on the migrated template', () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase();
  });
  after(() => db.drop());

  it('applies nothing a second and a third time (returns [])', async () => {
    assert.deepEqual(await migrate(db.pool), []);
    assert.deepEqual(await migrate(db.pool), []);
    assert.deepEqual((await appliedRows(db.pool)).map((r) => r.name), await realFiles());
    assert.equal(await isFullyMigrated(db.pool), true);
  });
});

describe('migrate (db/migrate) on a brand-new database', () => {
  const dbs: TestDatabase[] = [];
  const dirs: string[] = [];
  const emptyDb = async () => {
    const db = await createEmptyDatabase();
    dbs.push(db);
    return db;
  };
  const migrationsCopy = async () => {
    const dir = await copyMigrations();
    dirs.push(dir);
    return dir;
  };
  after(async () => {
    for (const db of dbs) await db.drop();
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('applies every file once, in order, then nothing', async () => {
    const db = await emptyDb();
    assert.equal(await isFullyMigrated(db.pool), false);
    assert.deepEqual(await migrate(db.pool), await realFiles());
    for (const table of ['repositories', 'blobs', 'manifests', 'tags', 'tag_events', 'uploads']) {
      assert.ok(await tableExists(db.pool, table), `${table} missing`);
    }
    assert.deepEqual(await migrate(db.pool), []);
    assert.deepEqual((await appliedRows(db.pool)).map((r) => r.name), await realFiles());
    assert.equal(await isFullyMigrated(db.pool), true);
  });

  it('refuses with MigrationError when an applied file was edited, and applies nothing', async () => {
    const db = await emptyDb();
    const dir = await migrationsCopy();
    await migrate(db.pool, dir);
    const files = await realFiles();
    await writeFile(path.join(dir, await nextFile('later')), 'CREATE TABLE later_table (id int);\n');
    await appendFile(path.join(dir, files[0]!), '\n-- an innocent-looking edit\n');
    await assert.rejects(migrate(db.pool, dir), (err: unknown) => err instanceof MigrationError && /edited/.test(err.message));
    assert.equal(await tableExists(db.pool, 'later_table'), false);
    assert.equal((await appliedRows(db.pool)).length, files.length);
  });

  it('refuses with MigrationError when an applied file is missing', async () => {
    const db = await emptyDb();
    const dir = await migrationsCopy();
    const later = await nextFile('later');
    await writeFile(path.join(dir, later), 'CREATE TABLE later_table (id int);\n');
    await migrate(db.pool, dir);
    await unlink(path.join(dir, later));
    await assert.rejects(migrate(db.pool, dir), MigrationError);
  });

  it('applies only a newly added file', async () => {
    const db = await emptyDb();
    const dir = await migrationsCopy();
    await migrate(db.pool, dir);
    const later = await nextFile('later');
    await writeFile(path.join(dir, later), 'CREATE TABLE later_table (id int);\n');
    assert.deepEqual(await migrate(db.pool, dir), [later]);
    assert.ok(await tableExists(db.pool, 'later_table'));
  });

  it('refuses a new file numbered below one already applied, and applies nothing', async () => {
    const db = await emptyDb();
    const dir = await migrationsCopy();
    await writeFile(path.join(dir, '9001_last.sql'), 'SELECT 1;\n');
    await migrate(db.pool, dir);
    await writeFile(path.join(dir, '9000_late.sql'), 'CREATE TABLE late_table (id int);\n');
    await assert.rejects(migrate(db.pool, dir), (err: unknown) => err instanceof MigrationError && /9000_late\.sql.*9001_last\.sql/.test(err.message));
    assert.equal(await tableExists(db.pool, 'late_table'), false);
  });

  it('rolls back a failing file entirely and records nothing for it', async () => {
    const db = await emptyDb();
    const dir = await migrationsCopy();
    const broken = await nextFile('broken');
    await writeFile(path.join(dir, broken), 'CREATE TABLE half_done (id int);\nSELECT no_such_function();\n');
    await assert.rejects(migrate(db.pool, dir), (err: unknown) => err instanceof MigrationError && err.message.includes(broken));
    assert.equal(await tableExists(db.pool, 'half_done'), false);
    assert.deepEqual((await appliedRows(db.pool)).map((r) => r.name), await realFiles());
  });

  it('lets two concurrent runners both succeed, applying each file exactly once', async () => {
    const db = await emptyDb();
    const second = createPool(db.url);
    try {
      const dir = await migrationsCopy();
      // Not idempotent: a second application would fail with "relation already exists".
      const later = await nextFile('later');
      await writeFile(path.join(dir, later), 'CREATE TABLE later_table (id int);\n');
      const results = await Promise.all([migrate(db.pool, dir), migrate(second, dir)]);
      const all = [...(await realFiles()), later];
      assert.deepEqual(results.map((r) => r.length).sort(), [0, all.length], JSON.stringify(results));
      assert.deepEqual(results.flat(), all);
      const rows = await appliedRows(db.pool);
      assert.deepEqual(rows.map((r) => r.name), all);
      assert.deepEqual(rows.map((r) => r.id), all.map((name) => Number(name.split('_')[0])));
    } finally {
      await second.end();
    }
  });

  it('lets five concurrent runners on the real migrations all succeed', async () => {
    const db = await emptyDb();
    const pools = Array.from({ length: 4 }, () => createPool(db.url));
    try {
      const results = await Promise.all([db.pool, ...pools].map((p) => migrate(p)));
      assert.deepEqual(results.flat(), await realFiles());
      assert.equal((await appliedRows(db.pool)).length, (await realFiles()).length);
    } finally {
      await Promise.all(pools.map((p) => p.end()));
    }
  });
});

describe('loadMigrationFiles (db/migrate)', () => {
  const dirs: string[] = [];
  const emptyDir = async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'berth-migrations-'));
    dirs.push(dir);
    return dir;
  };
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('reads the real migrations with increasing ids and their sha256', async () => {
    const files = await loadMigrationFiles(DEFAULT_MIGRATIONS_DIR);
    assert.equal(files[0]?.id, 1);
    assert.ok(files.every((f, i) => i === 0 || f.id > files[i - 1]!.id));
    assert.ok(files.every((f) => /^[0-9a-f]{64}$/.test(f.sha256)));
  });

  it('refuses a file name without a number', async () => {
    const dir = await emptyDir();
    await writeFile(path.join(dir, 'init.sql'), 'SELECT 1;');
    await assert.rejects(loadMigrationFiles(dir), MigrationError);
  });

  it('refuses two files with the same number', async () => {
    const dir = await emptyDir();
    await writeFile(path.join(dir, '0001_a.sql'), 'SELECT 1;');
    await writeFile(path.join(dir, '0001_b.sql'), 'SELECT 1;');
    await assert.rejects(loadMigrationFiles(dir), MigrationError);
  });

  it('accepts a gap in the numbering (a number handed to a branch not merged yet)', async () => {
    const dir = await emptyDir();
    await writeFile(path.join(dir, '0001_a.sql'), 'SELECT 1;');
    await writeFile(path.join(dir, '0003_c.sql'), 'SELECT 1;');
    assert.deepEqual((await loadMigrationFiles(dir)).map((f) => f.id), [1, 3]);
  });
});
