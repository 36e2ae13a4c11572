// Flushes staged upload files to disk in the background while an upload is still coming in, so
// the commit's fdatasync (a blob is durable before it is acknowledged) has only the tail left
// instead of the whole blob after the last byte came in.
import { open } from 'node:fs/promises';

/**
 * Staged bytes between background flushes of one upload. 8 MiB: a 256 MiB chunked push's closing
 * PUT waited ~25 ms for its fdatasync here, against ~60-90 ms at 32 MiB and ~350-450 ms with no
 * flush across requests; monolithic pushes ran at the same speed with 8 and 32 MiB.
 */
export const FLUSH_EVERY = 8 * 1024 * 1024;
/**
 * Uploads tracked at once. An upload abandoned without a cancel (or finished on another replica)
 * leaves its entry; past this many the oldest idle entries go. Losing one only means its commit
 * syncs more.
 */
const MAX_TRACKED = 1024;

interface Tracked {
  /** Offset up to which a flush has been started. */
  flushedTo: number;
  /** The flush in flight, if any: one at a time per upload. */
  pending?: Promise<void> | undefined;
  /** A background flush failed: its pages may have been dropped, so the commit must fail too. */
  failure?: unknown;
}

/**
 * One fdatasync in flight per upload, started every FLUSH_EVERY bytes, and kept across requests:
 * a chunked push (docker's 8 MiB PATCHes, say) never sends 32 MiB in one request, so a per-request
 * flusher would leave the whole blob to the commit. fdatasync on a descriptor of its own flushes
 * the file's data whichever descriptor wrote it. Nothing waits for these flushes but the commit:
 * a chunk's 202 means what it meant before (its bytes are written to the file), no less.
 */
export class StagedFlushes {
  private readonly tracked = new Map<string, Tracked>();

  constructor(private readonly every = FLUSH_EVERY) {}

  /** Bytes of `uploadId` are now written to `file` up to `offset`: flush them if enough piled up. */
  wrote(uploadId: string, file: string, offset: number): void {
    let entry = this.tracked.get(uploadId);
    if (!entry) {
      // An upload starts counting where it is when this process first sees it.
      entry = { flushedTo: offset };
      this.tracked.set(uploadId, entry);
      this.evictIdle();
      return;
    }
    if (entry.pending || offset - entry.flushedTo < this.every) return;
    entry.flushedTo = offset;
    const tracked = entry;
    tracked.pending = flushFile(file)
      .catch((err: unknown) => {
        // A missing file is a cancelled upload: nothing to keep durable.
        if ((err as NodeJS.ErrnoException)?.code !== 'ENOENT') tracked.failure ??= err;
      })
      .finally(() => {
        tracked.pending = undefined;
      });
  }

  /** Truncation below what was flushed (a retried chunk): count again from there. */
  rewound(uploadId: string, offset: number): void {
    const entry = this.tracked.get(uploadId);
    if (entry && entry.flushedTo > offset) entry.flushedTo = offset;
  }

  /**
   * Before the commit's own fdatasync: waits for the flush in flight and forgets the upload;
   * throws the error of a background flush that failed (its data may never reach the disk, and a
   * later fdatasync on another descriptor need not report it).
   */
  async settle(uploadId: string): Promise<void> {
    const entry = this.tracked.get(uploadId);
    if (!entry) return;
    await entry.pending;
    // A failure stays until the upload is cancelled: a retried commit must not succeed on it.
    if (entry.failure !== undefined) throw entry.failure;
    this.tracked.delete(uploadId);
  }

  /** The upload is gone (cancelled or committed elsewhere); a flush in flight just ends. */
  forget(uploadId: string): void {
    this.tracked.delete(uploadId);
  }

  private evictIdle(): void {
    if (this.tracked.size <= MAX_TRACKED) return;
    // Maps iterate in insertion order: the first entries are the oldest uploads.
    for (const [id, entry] of this.tracked) {
      if (this.tracked.size <= MAX_TRACKED) return;
      if (!entry.pending && entry.failure === undefined) this.tracked.delete(id);
    }
  }
}

async function flushFile(file: string): Promise<void> {
  const handle = await open(file, 'r');
  try {
    await handle.datasync();
  } finally {
    await handle.close();
  }
}
