// One upstream fetch for many pulls: within a process, callers asking for the same key while a
// fetch runs share its promise; across replicas sharing PostgreSQL, the fetch runs holding a
// session advisory lock on the key, so a second replica waits for the first and then finds the
// content stored (every caller re-checks the store once it holds the lock).
import type pg from 'pg';

export class SingleFlight<T> {
  private readonly inFlight = new Map<string, Promise<T>>();

  /** `fn`'s promise, shared with every caller of the same key until it settles. */
  run(key: string, fn: () => Promise<T>): Promise<T> {
    const running = this.inFlight.get(key);
    if (running) return running;
    const started = fn().finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, started);
    return started;
  }

  /** Whether a call for `key` is running. */
  has(key: string): boolean {
    return this.inFlight.has(key);
  }
}

/**
 * Runs `fn` while holding the advisory lock "proxy:<key>" on a connection of `pool` (the lock
 * pool: these may be held for as long as a large layer takes to download).
 */
export async function underReplicaLock<T>(pool: pg.Pool, key: string, fn: () => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [`proxy:${key}`]).catch((err: Error) => {
      throw (broken = err);
    });
    try {
      return await fn();
    } finally {
      await client.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [`proxy:${key}`]).catch((err: Error) => {
        broken = err;
      });
    }
  } finally {
    // A connection whose unlock failed may still hold the lock: it is destroyed, and the lock with it.
    client.release(broken);
  }
}
