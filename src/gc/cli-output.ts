// What `berth gc` and `berth fsck` print: one line per thing removed (or found), then a summary.
import { humanSize } from '../registry/byte-size.js';
import { describeProblem, type FsckReport } from './fsck.js';
import type { GcResult } from './report.js';

export function gcText(r: GcResult): string {
  const verb = r.dryRun ? 'would remove' : 'removed';
  const lines = [
    ...r.manifests.removed.map((m) => `${verb} manifest ${m}`),
    ...r.blobs.removed.map((b) => `${verb} blob ${b}`),
  ];
  const summary =
    `${r.dryRun ? 'garbage collection (dry run): would remove' : 'garbage collection: removed'} ` +
    `${r.manifests.deleted} manifest(s) (${humanSize(r.manifests.bytes)}), ${r.blobs.deleted} blob(s) (${humanSize(r.blobs.bytes)} reclaimed), ` +
    `${r.dryRun ? 'would abort' : 'aborted'} ${r.uploads.aborted} stale upload(s)` +
    (r.manifests.skipped + r.blobs.skipped > 0 ? `; kept ${r.manifests.skipped + r.blobs.skipped} candidate(s) in use meanwhile` : '') +
    (r.blobs.storeErrors > 0 ? `; ${r.blobs.storeErrors} store delete(s) failed (retried next run)` : '') +
    ` in ${(r.durationMs / 1000).toFixed(1)} s`;
  return [...lines, summary].join('\n');
}

export function fsckText(r: FsckReport): string {
  const summary =
    `fsck${r.deep ? ' --deep' : ''}: ${r.blobs} blob(s) (${humanSize(r.bytes)}) checked, ${r.objects} object(s) in the store: ` +
    (r.problems.length === 0 ? 'no problems' : `${r.problems.length} problem(s)`);
  return [...r.problems.map(describeProblem), summary].join('\n');
}
