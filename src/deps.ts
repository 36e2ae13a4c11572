// createDeps(config): the one place that builds the process's resources: database (external or
// embedded), migrations, blob store, logger. Everything else receives them.
import type pg from 'pg';
import type { Logger } from 'pino';
import type { Config } from './config.js';
import { hasEmbeddedDatabase, runningEmbeddedUrl, startEmbeddedPostgres, type EmbeddedDatabase } from './db/embedded.js';
import { migrate } from './db/migrate.js';
import { createPool } from './db/pool.js';
import { createLogger } from './logger.js';
import type { BlobStore } from './storage/blob-store.js';
import { checkBlobStore } from './storage/blob-store-identity.js';
import { createBlobStore } from './storage/create-blob-store.js';
import { StartupError } from './startup-error.js';
import { describeDatabaseError, describeStoreError } from './startup-errors.js';

/** Chunks written at once per process; more wait for a connection. */
const UPLOAD_LOCK_CONNECTIONS = 32;
/** Upstream fetches of the pull-through caches at once per process (each holds one while it downloads). */
const PROXY_LOCK_CONNECTIONS = 32;

export interface Deps {
  config: Config;
  logger: Logger;
  pool: pg.Pool;
  lockPool: pg.Pool;
  /** BERTH_PROXIES: connections holding the cross-replica lock of an upstream fetch; undefined without caches. */
  proxyLockPool: pg.Pool | undefined;
  store: BlobStore;
  close(): Promise<void>;
}

/** Asks the database once, so a wrong DATABASE_URL stops start-up with one line naming it. */
async function reachable(pool: pg.Pool, config: Config): Promise<void> {
  try {
    await pool.query('SELECT 1');
  } catch (err) {
    await pool.end();
    throw describeDatabaseError(err, config) ?? err;
  }
}

/** The database: DATABASE_URL, or the embedded PostgreSQL in the data directory (created when missing). */
export async function openDatabase(config: Config, logger: Logger): Promise<{ url: string; pool: pg.Pool; embedded?: EmbeddedDatabase }> {
  if (config.databaseUrl) {
    const pool = createPool(config.databaseUrl);
    await reachable(pool, config);
    return { url: config.databaseUrl, pool };
  }
  const started = Date.now();
  const embedded = await startEmbeddedPostgres(config.dataDir, { tcpPort: config.embeddedPostgresPort });
  logger.info({ ms: Date.now() - started, tcpPort: config.embeddedPostgresPort ?? null }, 'embedded PostgreSQL started');
  return { url: embedded.url, pool: createPool(embedded.url), embedded };
}

/**
 * The database for a server-side command (user, gc, fsck, migrate, ...), which must act on an
 * existing registry and never create one by accident: DATABASE_URL (migrated, unless
 * `allowEmpty`: `berth migrate` prepares an external database); or the embedded PostgreSQL a
 * running Berth started on BERTH_DATA_DIR (found through its postmaster.pid); or, when none
 * runs, the registry's embedded one started for the command and stopped by close(). With
 * `checkStore`, the configured blob store must be the one the registry was created with.
 */
export async function openDatabaseForCli(
  config: Config,
  logger: Logger,
  options: { allowEmpty?: boolean; checkStore?: boolean } = {},
): Promise<{ pool: pg.Pool; close(): Promise<void> }> {
  let pool: pg.Pool;
  let embedded: EmbeddedDatabase | undefined;
  const runningUrl = config.databaseUrl ? undefined : await runningEmbeddedUrl(config.dataDir);
  if (runningUrl !== undefined) {
    logger.debug('using the embedded PostgreSQL of the running Berth');
    pool = createPool(runningUrl);
  } else if (!config.databaseUrl && !hasEmbeddedDatabase(config.dataDir)) {
    throw new StartupError(
      `no registry in BERTH_DATA_DIR=${config.dataDir} (it has no postgres/ database): run the command with the server's BERTH_DATA_DIR (or its DATABASE_URL)`,
    );
  } else {
    ({ pool, embedded } = await openDatabase(config, logger));
  }
  const close = async () => {
    await pool.end();
    await embedded?.stop();
  };
  try {
    if (config.databaseUrl && !options.allowEmpty) {
      const { rows } = await pool.query<{ regclass: string | null }>("SELECT to_regclass('schema_migrations')::text AS regclass");
      if (!rows[0]?.regclass) {
        throw new StartupError('DATABASE_URL names a database that holds no registry (no schema_migrations): check DATABASE_URL, or run "berth migrate" (or start the server) first');
      }
    }
    if (options.checkStore) await checkBlobStore(pool, config, { record: false });
  } catch (err) {
    await close();
    throw err;
  }
  return { pool, close };
}

export async function createDeps(config: Config): Promise<Deps> {
  const logger = createLogger(config.logLevel);
  const { url, pool, embedded } = await openDatabase(config, logger);
  try {
    const applied = await migrate(pool);
    if (applied.length > 0) logger.info({ applied }, 'migrations applied');
  } catch (err) {
    await pool.end();
    await embedded?.stop();
    throw err;
  }
  let store: BlobStore;
  try {
    await checkBlobStore(pool, config, { record: true });
    store = await createBlobStore(config.storage);
  } catch (err) {
    await pool.end();
    await embedded?.stop();
    throw describeStoreError(err, config) ?? err;
  }
  // One connection per chunk being written, held while it streams; apart from the query pool so
  // slow uploads never starve pulls. A chunk may wait long for a free one while others stream: no
  // wait timeout; opening a connection stays bounded (createPool), so a silent server means 503.
  const lockPool = createPool(url, UPLOAD_LOCK_CONNECTIONS, 0);
  // Apart from lockPool: a fetch holds its lock while its upload takes an upload lock from there.
  const proxyLockPool = config.proxies.length > 0 ? createPool(url, PROXY_LOCK_CONNECTIONS, 0) : undefined;
  return {
    config,
    logger,
    pool,
    lockPool,
    proxyLockPool,
    store,
    async close() {
      await proxyLockPool?.end();
      await lockPool.end();
      await pool.end();
      await embedded?.stop();
    },
  };
}
