// Reports of recent garbage collections (migration 0014), whichever replica or command ran them,
// so every replica's administration page shows the same last report, and a restart keeps it.
import type { GcResult } from '../gc/report.js';
import type { Db } from './pool.js';

/** Reports kept; older ones are deleted as new ones arrive. */
const KEPT = 20;
/** Names listed per removed list; the counts stay whole. */
const LISTED = 100;

export async function insertGcReport(db: Db, result: GcResult): Promise<void> {
  const report = {
    ...result,
    manifests: { ...result.manifests, removed: result.manifests.removed.slice(0, LISTED) },
    blobs: { ...result.blobs, removed: result.blobs.removed.slice(0, LISTED) },
  };
  await db.query('INSERT INTO gc_reports (report) VALUES ($1)', [JSON.stringify(report)]);
  await db.query('DELETE FROM gc_reports WHERE id < (SELECT min(id) FROM (SELECT id FROM gc_reports ORDER BY id DESC LIMIT $1) AS kept)', [KEPT]);
}

export async function latestGcReport(db: Db): Promise<GcResult | undefined> {
  const { rows } = await db.query<{ report: GcResult & { startedAt: string } }>('SELECT report FROM gc_reports ORDER BY id DESC LIMIT 1');
  const report = rows[0]?.report;
  return report && { ...report, startedAt: new Date(report.startedAt) };
}
