// The upload side of the garbage collector's protocol (src/gc/collector.ts): a blob's bytes are put
// under its content address and its row recorded while holding the digest's shared advisory lock.
// The collector holds the same key exclusively from before it deletes a blob's row until the bytes
// are gone from the store, so a re-upload of a digest being collected either waits for the
// collector and then puts its bytes back (and its row), or makes the collector skip that digest.
import type { Db } from './pool.js';

/** Runs `fn` holding the shared "blob:<digest>" lock on `session` (a connection of its own). */
export async function underBlobGuard<T>(session: Db, digest: string, fn: () => Promise<T>): Promise<T> {
  await session.query({ name: 'blob-guard-lock', text: "SELECT pg_advisory_lock_shared(hashtextextended('blob:' || $1, 0))", values: [digest] });
  try {
    return await fn();
  } finally {
    await session.query({ name: 'blob-guard-unlock', text: "SELECT pg_advisory_unlock_shared(hashtextextended('blob:' || $1, 0))", values: [digest] });
  }
}
