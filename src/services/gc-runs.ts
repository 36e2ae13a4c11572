// Garbage collection on demand (the administration page, POST /api/v1/gc): one run at a time in
// this process, with the same settings as the background collector, and the last report of any
// replica's (or `berth gc`'s) run, from PostgreSQL.
import type pg from 'pg';
import { runGc, summaryOf, type GcOptions } from '../gc/collector.js';
import type { GcResult } from '../gc/report.js';
import { latestGcReport } from '../db/gc-reports.js';
import { RegistryError } from '../errors/registry-error.js';
import type { BlobStore } from '../storage/blob-store.js';

/** Items of each removed list shown; the counts are always whole. */
const LISTED = 100;

export function gcReport(r: GcResult) {
  return {
    ...summaryOf(r),
    startedAt: r.startedAt.toISOString(),
    graceMs: r.graceMs,
    removedManifests: r.manifests.removed.slice(0, LISTED),
    removedBlobs: r.blobs.removed.slice(0, LISTED),
  };
}

export class GcRuns {
  private running: Promise<GcResult> | undefined;

  constructor(
    private readonly pool: pg.Pool,
    private readonly store: BlobStore,
    private readonly options: GcOptions,
  ) {}

  last(): Promise<GcResult | undefined> {
    return latestGcReport(this.pool);
  }

  /** Runs a collection now; CONFLICT while one started here is still going. */
  async run(dryRun: boolean): Promise<GcResult> {
    if (this.running) throw new RegistryError('CONFLICT', { message: 'a garbage collection started here is still running' });
    this.running = runGc(this.pool, this.store, { ...this.options, dryRun });
    try {
      return await this.running;
    } finally {
      this.running = undefined;
    }
  }
}
