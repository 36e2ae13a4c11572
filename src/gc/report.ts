// What a garbage collection run did, and the one place other modules learn about it: metrics
// (issue 7) subscribe with onGcResult and count what runs report, wherever the run was started
// (the background collector, or a test calling runGc).

export interface GcResult {
  dryRun: boolean;
  startedAt: Date;
  durationMs: number;
  graceMs: number;
  /** Milliseconds spent in each phase: uploads, pending store deletes, manifest mark and sweep, blob mark and sweep. */
  phasesMs: Record<'uploads' | 'pending' | 'markManifests' | 'sweepManifests' | 'markBlobs' | 'sweepBlobs', number>;
  uploads: { aborted: number };
  manifests: {
    deleted: number;
    /** Manifest bytes freed in PostgreSQL. */
    bytes: number;
    /** Candidates kept after all, because a push, tag or another collector held them. */
    skipped: number;
    /** `<repository>@<digest>` of each manifest removed (or, for a dry run, that would be). */
    removed: string[];
  };
  blobs: {
    deleted: number;
    /** Bytes reclaimed in the blob store. */
    bytes: number;
    skipped: number;
    /** Bytes the store failed to delete (queued; the next run retries). */
    storeErrors: number;
    removed: string[];
  };
}

type Listener = (result: GcResult) => void;
const listeners = new Set<Listener>();
/** Calls `listener` with every finished run's result; returns the unsubscribe function. */
export function onGcResult(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function publishGcResult(result: GcResult): void {
  for (const listener of listeners) {
    try {
      listener(result);
    } catch {
      // A listener's failure is its own; the collection happened either way.
    }
  }
}
