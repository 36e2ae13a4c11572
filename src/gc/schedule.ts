// The background collector (BERTH_GC_INTERVAL): every replica may run it; the locks of the protocol
// (src/gc/collector.ts) divide the work. The first run waits one interval, so a fleet restarting
// together does not collect all at once; a run still going when the next is due is not doubled.
import type pg from 'pg';
import type { Logger } from 'pino';
import type { BlobStore } from '../storage/blob-store.js';
import { runGc, type GcOptions } from './collector.js';

export function scheduleGc(pool: pg.Pool, store: BlobStore, options: GcOptions & { logger: Logger }, everyMs: number): () => void {
  let running: Promise<void> | undefined;
  const tick = () => {
    running ??= runGc(pool, store, { ...options, dryRun: false })
      .then(() => {})
      .catch((err: unknown) => options.logger.error({ err }, 'garbage collection failed; retried at the next interval'))
      .finally(() => {
        running = undefined;
      });
  };
  const timer = setInterval(tick, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
