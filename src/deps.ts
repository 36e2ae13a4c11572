// createDeps(config): the one place that builds the process's resources: database (external or
// embedded), migrations, blob store, logger. Everything else receives them.
import type pg from 'pg';
import type { Logger } from 'pino';
import type { Config } from './config.js';
import { embeddedUrl, runningEmbeddedPort, startEmbeddedPostgres, type EmbeddedDatabase } from './db/embedded.js';
import { migrate } from './db/migrate.js';
import { createPool } from './db/pool.js';
import { createLogger } from './logger.js';
import type { BlobStore } from './storage/blob-store.js';
import { createBlobStore } from './storage/create-blob-store.js';

/** Chunks written at once per process; more wait for a connection. */
const UPLOAD_LOCK_CONNECTIONS = 32;

export interface Deps {
  config: Config;
  logger: Logger;
  pool: pg.Pool;
  lockPool: pg.Pool;
  store: BlobStore;
  close(): Promise<void>;
}

/**
 * The database: DATABASE_URL, or the embedded PostgreSQL in the data directory. With
 * `shareRunning` (CLI commands), an embedded PostgreSQL a running server started is used as it is.
 */
export async function openDatabase(
  config: Config,
  logger: Logger,
  options: { shareRunning?: boolean } = {},
): Promise<{ url: string; pool: pg.Pool; embedded?: EmbeddedDatabase }> {
  if (config.databaseUrl) return { url: config.databaseUrl, pool: createPool(config.databaseUrl) };
  const running = options.shareRunning ? await runningEmbeddedPort(config.dataDir) : undefined;
  if (running !== undefined) {
    logger.debug({ port: running }, 'using the embedded PostgreSQL of the running server');
    return { url: embeddedUrl(running), pool: createPool(embeddedUrl(running)) };
  }
  const started = Date.now();
  const embedded = await startEmbeddedPostgres(config.dataDir, config.embeddedPostgresPort);
  logger.info({ ms: Date.now() - started, port: config.embeddedPostgresPort }, 'embedded PostgreSQL started');
  return { url: embedded.url, pool: createPool(embedded.url), embedded };
}

/**
 * The database for a CLI command run next to (or without) a server: DATABASE_URL; or the embedded
 * PostgreSQL a running Berth started on BERTH_DATA_DIR (found through its postmaster.pid, so
 * whatever port that server was given); or, when none runs, the embedded one started for the
 * command and stopped by close().
 */
export async function openDatabaseForCli(config: Config, logger: Logger): Promise<{ pool: pg.Pool; close(): Promise<void> }> {
  const runningPort = config.databaseUrl ? undefined : await runningEmbeddedPort(config.dataDir);
  if (runningPort !== undefined) {
    logger.debug({ port: runningPort }, 'using the embedded PostgreSQL of the running Berth');
    const pool = createPool(embeddedUrl(runningPort));
    return { pool, close: () => pool.end() };
  }
  const { pool, embedded } = await openDatabase(config, logger);
  return {
    pool,
    async close() {
      await pool.end();
      await embedded?.stop();
    },
  };
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
    store = await createBlobStore(config.storage);
  } catch (err) {
    await pool.end();
    await embedded?.stop();
    throw err;
  }
  // One connection per chunk being written, held while it streams; apart from the query pool so
  // slow uploads never starve pulls. A chunk may wait long for one while others stream: no timeout.
  const lockPool = createPool(url, UPLOAD_LOCK_CONNECTIONS, 0);
  return {
    config,
    logger,
    pool,
    lockPool,
    store,
    async close() {
      await lockPool.end();
      await pool.end();
      await embedded?.stop();
    },
  };
}
