// The PostgreSQL pool and the two shapes every query module takes: a Db (pool or client) and a
// transaction helper that keeps every statement on one client.
import pg from 'pg';

// int8 columns hold blob sizes and offsets; they stay far below 2^53, so numbers are exact and
// every caller gets a number, decided once here.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

export type Db = Pick<pg.Pool | pg.PoolClient, 'query'>;

export function createPool(connectionString: string, max = 16): pg.Pool {
  const pool = new pg.Pool({ connectionString, max, idleTimeoutMillis: 30_000 });
  // An idle client losing its connection must not crash the process; the next query reconnects.
  pool.on('error', () => {});
  return pool;
}

/**
 * Runs fn in one transaction on one client: COMMIT on success, ROLLBACK on any error. With
 * `dryRun`, ROLLBACK on success too: the caller sees exactly what would have happened.
 */
export async function withTransaction<T>(
  pool: pg.Pool,
  fn: (tx: pg.PoolClient) => Promise<T>,
  options: { dryRun?: boolean } = {},
): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query(options.dryRun ? 'ROLLBACK' : 'COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}
