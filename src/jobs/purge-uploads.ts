// Aborts upload sessions nobody has touched for BERTH_UPLOAD_TTL: their staged bytes (an S3
// multipart upload's parts, a staging file) are freed and the session disappears. Runs on every
// replica; an upload a writer holds right now is skipped (its write lock), and deleting a row
// twice is harmless, so replicas need no further coordination.
import type pg from 'pg';
import type { Logger } from 'pino';
import { deleteUpload, listStaleUploads, tryLockUpload, unlockUpload } from '../db/uploads.js';
import type { BlobStore } from '../storage/blob-store.js';

const BATCH = 500;

export async function purgeStaleUploads(pool: pg.Pool, store: BlobStore, ttlMs: number): Promise<number> {
  let purged = 0;
  const client = await pool.connect();
  try {
    for (const upload of await listStaleUploads(client, ttlMs, BATCH)) {
      if (!(await tryLockUpload(client, upload.id))) continue;
      try {
        await store.abortUpload(upload.id, upload.backendState);
        if (await deleteUpload(client, upload.id)) purged += 1;
      } finally {
        await unlockUpload(client, upload.id);
      }
    }
  } finally {
    client.release();
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
      .catch((err: unknown) => logger.error({ err }, 'purging stale uploads failed'))
      .finally(() => {
        running = undefined;
      });
  };
  const timer = setInterval(tick, everyMs);
  timer.unref();
  tick();
  return () => clearInterval(timer);
}
