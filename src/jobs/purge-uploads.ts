// Aborts upload sessions nobody has touched for BERTH_UPLOAD_TTL: their staged bytes (an S3
// multipart upload's parts, a staging file) are freed and the session disappears. Runs on every
// replica; an upload a writer holds right now is skipped (its write lock), and deleting a row
// twice is harmless, so replicas need no further coordination. A purge that loses its database
// session stops: the upload locks went with it, so a client may be writing those uploads now.
import type pg from 'pg';
import type { Logger } from 'pino';
import { connectionLost } from '../db/pool.js';
import { DatabaseUnavailableError, isDatabaseUnavailable } from '../db/unavailable.js';
import { deleteUpload, findStaleUpload, listStaleUploads, tryLockUpload, unlockUpload } from '../db/uploads.js';
import type { BlobStore } from '../storage/blob-store.js';

const BATCH = 500;

export async function purgeStaleUploads(pool: pg.Pool, store: BlobStore, ttlMs: number): Promise<number> {
  let purged = 0;
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    for (const upload of await listStaleUploads(client, ttlMs, BATCH)) {
      if (!(await tryLockUpload(client, upload.id))) continue;
      try {
        // Read again under the lock: a client may have resumed the upload since the list was read.
        const backendState = await findStaleUpload(client, upload.id, ttlMs);
        if (backendState === undefined) continue;
        if (connectionLost(client)) throw new DatabaseUnavailableError('purging stale uploads lost the database session holding the upload lock');
        await store.abortUpload(upload.id, backendState);
        if (await deleteUpload(client, upload.id)) purged += 1;
      } catch (err) {
        broken = err as Error;
        throw err;
      } finally {
        if (!connectionLost(client)) {
          await unlockUpload(client, upload.id).catch((err: Error) => {
            throw (broken = err);
          });
        }
      }
    }
  } finally {
    // A client that lost its connection, or failed with a lock held, is not reused.
    client.release(broken);
  }
  return purged;
}

/** Purges now and then every `everyMs` until stopped; failures are logged and retried next time. */
export function schedulePurge(pool: pg.Pool, store: BlobStore, ttlMs: number, logger: Logger, everyMs: number): () => void {
  let running: Promise<void> | undefined;
  const tick = () => {
    running ??= purgeStaleUploads(pool, store, ttlMs)
      .then((purged) => {
        if (purged > 0) logger.info({ purged }, 'stale uploads aborted');
      })
      .catch((err: unknown) => {
        if (isDatabaseUnavailable(err)) logger.warn({ err }, 'purging stale uploads stopped: the database is unavailable; next time');
        else logger.error({ err }, 'purging stale uploads failed');
      })
      .finally(() => {
        running = undefined;
      });
  };
  const timer = setInterval(tick, everyMs);
  timer.unref();
  tick();
  return () => clearInterval(timer);
}
