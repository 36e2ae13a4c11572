// The PostgreSQL pool and the two shapes every query module takes: a Db (pool or client) and a
// transaction helper that keeps every statement on one client.
import pg from 'pg';
import { markConnectionLost } from './unavailable.js';

// int8 columns hold blob sizes and offsets; they stay far below 2^53, so numbers are exact and
// every caller gets a number, decided once here.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

export type Db = Pick<pg.Pool | pg.PoolClient, 'query'>;

/**
 * How long a query may wait for a connection, opening one included. Without it a server that
 * drops packets (a host gone in a failover) keeps requests waiting for the kernel's TCP timeout,
 * minutes long; with it they get 503 and retry.
 */
export const CONNECT_TIMEOUT_MS = 10_000;

/** Clients whose connection died while checked out: they must never be trusted to hold a lock. */
const lostClients = new WeakSet<pg.PoolClient>();

/**
 * TCP keepalive on every connection, first probe after this much idle time: a peer that vanished
 * without a word (a host gone in a failover) is noticed by the kernel instead of never.
 */
const KEEPALIVE_IDLE_MS = 10_000;

/**
 * A client that gives up opening its connection after CONNECT_TIMEOUT_MS whatever the pool's own
 * wait: a pool may let callers wait long for a free connection, never for a silent server.
 */
class BoundedConnectClient extends pg.Client {
  constructor(config: pg.ClientConfig = {}) {
    super({ ...config, connectionTimeoutMillis: CONNECT_TIMEOUT_MS, keepAlive: true, keepAliveInitialDelayMillis: KEEPALIVE_IDLE_MS });
  }
}

/**
 * `waitTimeoutMs`: how long a caller may wait for a connection, a free one or a new one; 0 waits
 * as long as it takes for a free one (a pool whose clients are rightly held long). Opening a
 * connection is bounded by CONNECT_TIMEOUT_MS in every pool.
 */
export function createPool(connectionString: string, max = 16, waitTimeoutMs = CONNECT_TIMEOUT_MS): pg.Pool {
  const pool = new pg.Pool({
    connectionString,
    max,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: waitTimeoutMs,
    Client: BoundedConnectClient,
  });
  // An idle client losing its connection must not crash the process; the pool drops it and the
  // next query opens a fresh one.
  pool.on('error', () => {});
  // A client checked out (a transaction, an upload's lock session, a GC session) has no pool
  // listener while it is out, and an 'error' event nobody listens to ends the process. This one
  // stays for the client's life: the query in flight fails with the error, the holder sees it,
  // and release() discards the dead client.
  pool.on('connect', (client) => {
    client.on('error', (err) => {
      markConnectionLost(err);
      lostClients.add(client);
    });
  });
  return pool;
}

/** True once the client's connection died: advisory locks it took are gone with the session. */
export function connectionLost(client: pg.PoolClient): boolean {
  return lostClients.has(client);
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
