// Online garbage collection: runs next to pushes and pulls, on any number of replicas at once.
//
// One run: (1) abort upload sessions idle for BERTH_UPLOAD_TTL; (2) finish store deletes an earlier
// run left pending; (3) delete manifests nothing keeps; (4) delete blobs nothing references, rows
// first, then bytes. The cutoff (now − BERTH_GC_GRACE) is read from the database clock once.
//
// What keeps a manifest (the mark, src/db/gc.ts markManifests): being younger than the cutoff, a
// tag, tag-history retention (src/db/retention.ts), being listed by a kept index, or being a
// referrer (subject) of a kept manifest. What keeps a blob: being stored or linked to a repository
// after the cutoff, or any manifest of any repository referencing it.
//
// The protocol against concurrent writers. The mark is a plain read; nothing is deleted on its say.
// Each batch is then locked and checked again:
//
// Manifests — in one transaction: lock the candidate rows FOR UPDATE SKIP LOCKED, re-check (a later
// statement, so it sees every commit made before the lock), delete. Writers that need a manifest to
// stay hold its row FOR KEY SHARE until they commit: a tag insert (its foreign key does it), a push
// re-sending the same manifest (insertManifest), an index push listing it, a rollback to it
// (findManifestInRepository with lock). So either the writer holds it first and the collector skips
// it, or the collector holds it first and the writer, once the delete commits, finds it gone: a
// push re-inserts the manifest it carries, an index push or a rollback is refused cleanly
// (MANIFEST_BLOB_UNKNOWN / MANIFEST_UNKNOWN) and can be retried.
//
// Blobs — a session-level advisory lock "blob:<digest>" is taken exclusively (try, skip if busy) and
// held from before the rows are touched until the bytes are gone from the store. An upload commit
// holds the same key shared while it puts the bytes and writes the row (src/db/blob-guard.ts), so a
// re-upload of a digest being collected either makes the collector skip it, or waits and puts its
// bytes back after the collector deleted them: the store never loses bytes a row promises. Then in
// one transaction: lock the blob rows and all their repository links FOR UPDATE SKIP LOCKED; re-check
// (no manifest references, no link newer than the cutoff, every link locked by us); delete links
// and rows, and queue the digests in gc_pending_deletes; commit. A manifest push holds the links it
// validated FOR KEY SHARE (lockLinkedDigests), so it either keeps the blob or, arriving after the
// delete, is refused with MANIFEST_BLOB_UNKNOWN — never a manifest referencing a deleted blob. A
// mount creating a link locks the blob row through its foreign key (kept) or fails to find it (the
// client uploads instead). Only after the commit are the bytes deleted from the store, then the
// queue entries; a crash in between leaves entries the next run finishes (skipping digests whose
// row came back). With BERTH_SPARSE_MANIFESTS, manifests may reference blobs they do not hold, and
// such references take no locks.
//
// Replicas: every lock above is taken with SKIP LOCKED or try-lock, so concurrent collectors divide
// the work and never wait for each other or for pushes; pushes wait at most one batch.
import type pg from 'pg';
import type { Logger } from 'pino';
import {
  countStaleUploads,
  deleteBlobRows,
  deleteManifests,
  existingBlobDigests,
  forgetStoreDeletes,
  gcCutoff,
  listPendingStoreDeletes,
  lockBlobs,
  lockManifests,
  markBlobs,
  markManifests,
  queueStoreDeletes,
  recheckBlobs,
  recheckManifests,
  tryLockBlobDigests,
  unlockBlobDigests,
  type BlobCandidate,
  type ManifestCandidate,
  type ManifestKey,
} from '../db/gc.js';
import { connectionLost, withTransaction } from '../db/pool.js';
import { DatabaseUnavailableError } from '../db/unavailable.js';
import { evictUnpulledRepositories } from '../db/proxy-cache.js';
import { listRetainedManifests, type RetentionPolicy } from '../db/retention.js';
import { purgeStaleUploads } from '../jobs/purge-uploads.js';
import type { BlobStore } from '../storage/blob-store.js';
import { publishGcResult, type GcResult } from './report.js';
import { insertGcReport } from '../db/gc-reports.js';

export interface GcOptions {
  /** BERTH_GC_GRACE. */
  graceMs: number;
  /** BERTH_UPLOAD_TTL. */
  uploadTtlMs: number;
  /** BERTH_HISTORY_RETENTION / BERTH_HISTORY_KEEP. */
  retention: RetentionPolicy;
  /** Report what would be removed; change nothing. */
  dryRun?: boolean;
  /** Pull-through caches (BERTH_PROXIES): their repositories not pulled within `keepMs` are evicted first. */
  proxies?: { prefix: string; keepMs: number }[];
  /** Rows per transaction. */
  batchSize?: number;
  /** Store deletes in flight at once, per batch. */
  storeConcurrency?: number;
  /** Blob batches swept at once. */
  parallelBatches?: number;
  logger?: Logger;
}

const DEFAULT_BATCH = 1000;
const DEFAULT_STORE_CONCURRENCY = 16;
const DEFAULT_PARALLEL_BATCHES = 2;
/** purgeStaleUploads handles this many sessions per call. */
const PURGE_BATCH = 500;

export async function runGc(pool: pg.Pool, store: BlobStore, options: GcOptions): Promise<GcResult> {
  const started = Date.now();
  const dryRun = options.dryRun ?? false;
  const batch = options.batchSize ?? DEFAULT_BATCH;
  const result: GcResult = {
    dryRun,
    startedAt: new Date(started),
    durationMs: 0,
    graceMs: options.graceMs,
    phasesMs: { uploads: 0, pending: 0, markManifests: 0, sweepManifests: 0, markBlobs: 0, sweepBlobs: 0 },
    uploads: { aborted: 0 },
    manifests: { deleted: 0, bytes: 0, skipped: 0, removed: [] },
    blobs: { deleted: 0, bytes: 0, skipped: 0, storeErrors: 0, removed: [] },
  };
  const cutoff = await gcCutoff(pool, options.graceMs);

  if (dryRun) {
    result.uploads.aborted = await countStaleUploads(pool, options.uploadTtlMs);
    const manifests = await markManifests(pool, cutoff, await retainedKeys(pool, options.retention));
    const blobs = await markBlobs(pool, cutoff, manifests);
    result.manifests = { deleted: manifests.length, bytes: sum(manifests), skipped: 0, removed: manifests.map(manifestRef) };
    result.blobs = { deleted: blobs.length, bytes: sum(blobs), skipped: 0, storeErrors: 0, removed: blobs.map((b) => b.digest) };
  } else {
    let t = Date.now();
    const phase = (name: keyof GcResult['phasesMs']) => {
      result.phasesMs[name] = Date.now() - t;
      t = Date.now();
    };
    for (;;) {
      const purged = await purgeStaleUploads(pool, store, options.uploadTtlMs);
      result.uploads.aborted += purged;
      if (purged < PURGE_BATCH) break;
    }
    phase('uploads');
    for (const proxy of options.proxies ?? []) {
      const evicted = await evictUnpulledRepositories(pool, proxy.prefix, proxy.keepMs);
      if (evicted.length > 0) options.logger?.info({ prefix: proxy.prefix, repositories: evicted }, 'evicted cached repositories nobody pulled within their keep period');
    }
    await finishPendingStoreDeletes(pool, store, options, result);
    phase('pending');
    const manifests = await markManifests(pool, cutoff, await retainedKeys(pool, options.retention));
    phase('markManifests');
    for (const chunk of manifestBatches(manifests, batch)) await sweepManifests(pool, chunk, cutoff, result);
    phase('sweepManifests');
    const blobs = await markBlobs(pool, cutoff);
    phase('markBlobs');
    // Batches are independent (each takes its own locks): a few at once overlap one batch's store
    // deletes with the next one's database work.
    let next = 0;
    const sweeper = async () => {
      while (next < blobs.length) {
        const chunk = blobs.slice(next, (next += batch));
        await sweepBlobs(pool, store, chunk, cutoff, options, result);
      }
    };
    await Promise.all(Array.from({ length: options.parallelBatches ?? DEFAULT_PARALLEL_BATCHES }, sweeper));
    phase('sweepBlobs');
  }
  result.durationMs = Date.now() - started;
  options.logger?.info({ gc: summaryOf(result) }, dryRun ? 'garbage collection dry run finished' : 'garbage collection finished');
  publishGcResult(result);
  try {
    await insertGcReport(pool, result);
  } catch (err) {
    // The collection happened either way; only the administration page misses its report.
    options.logger?.warn({ err }, 'could not record the garbage collection report');
  }
  return result;
}

/** The result without the lists of what was removed: what a log line or a metric needs. */
export function summaryOf(r: GcResult) {
  return {
    dryRun: r.dryRun,
    durationMs: r.durationMs,
    uploadsAborted: r.uploads.aborted,
    manifestsDeleted: r.manifests.deleted,
    manifestBytes: r.manifests.bytes,
    manifestsSkipped: r.manifests.skipped,
    blobsDeleted: r.blobs.deleted,
    blobBytes: r.blobs.bytes,
    blobsSkipped: r.blobs.skipped,
    storeErrors: r.blobs.storeErrors,
    phasesMs: r.phasesMs,
  };
}

async function retainedKeys(pool: pg.Pool, policy: RetentionPolicy): Promise<ManifestKey[]> {
  return (await listRetainedManifests(pool, policy)).map((m) => ({ repositoryId: m.repositoryId, digest: m.digest }));
}

function sum(items: { size: number }[]): number {
  return items.reduce((total, i) => total + i.size, 0);
}

function manifestRef(m: ManifestCandidate): string {
  return `${m.repository}@${m.digest}`;
}

/**
 * Batches that keep a repository's candidates together where they fit, so an index and its
 * children, or a manifest and its referrers, are usually decided in the same transaction.
 */
function manifestBatches(candidates: ManifestCandidate[], size: number): ManifestCandidate[][] {
  const batches: ManifestCandidate[][] = [];
  let current: ManifestCandidate[] = [];
  for (const c of candidates) {
    const last = current[current.length - 1];
    if (current.length >= size || (last && last.repositoryId !== c.repositoryId && current.length + 1 > size / 2)) {
      batches.push(current);
      current = [];
    }
    current.push(c);
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

const keyOf = (repositoryId: number, digest: string) => `${repositoryId} ${digest}`;

async function sweepManifests(pool: pg.Pool, candidates: ManifestCandidate[], cutoff: Date, result: GcResult): Promise<void> {
  const byKey = new Map(candidates.map((c) => [keyOf(c.repositoryId, c.digest), c]));
  await withTransaction(pool, async (tx) => {
    const locked = await lockManifests(tx, candidates);
    const checks = await recheckManifests(tx, locked, cutoff);
    // A manifest goes only if everything that would keep it goes too: its indexes and its subject
    // must be deleted in this same transaction (decided first, hence the fixpoint).
    const doomed = new Set<string>();
    for (let changed = true; changed; ) {
      changed = false;
      for (const c of checks) {
        const key = keyOf(c.repositoryId, c.digest);
        if (doomed.has(key) || !c.free) continue;
        if (!c.parents.every((p) => doomed.has(keyOf(c.repositoryId, p)))) continue;
        if (c.subject !== null && !doomed.has(keyOf(c.repositoryId, c.subject))) continue;
        doomed.add(key);
        changed = true;
      }
    }
    const keys = checks.filter((c) => doomed.has(keyOf(c.repositoryId, c.digest)));
    const bytes = await deleteManifests(tx, keys);
    result.manifests.deleted += keys.length;
    result.manifests.bytes += bytes;
    result.manifests.skipped += candidates.length - keys.length;
    for (const k of keys) result.manifests.removed.push(manifestRef(byKey.get(keyOf(k.repositoryId, k.digest))!));
  });
}

async function sweepBlobs(
  pool: pg.Pool,
  store: BlobStore,
  candidates: BlobCandidate[],
  cutoff: Date,
  options: GcOptions,
  result: GcResult,
): Promise<void> {
  const session = await pool.connect();
  let broken: Error | undefined;
  let guarded: string[] = [];
  try {
    guarded = await tryLockBlobDigests(session, candidates.map((c) => c.digest));
    let deleted: BlobCandidate[] = [];
    if (guarded.length > 0) {
      deleted = await withTransaction(pool, async (tx) => {
        const { blobs, lockedLinks } = await lockBlobs(tx, guarded);
        const confirmed = await recheckBlobs(tx, blobs, cutoff, lockedLinks);
        const rows = await deleteBlobRows(tx, confirmed);
        await queueStoreDeletes(tx, rows);
        return rows;
      });
    }
    // The rows are gone (committed); the bytes follow while the digests are still guarded.
    const gone = await deleteFromStore(store, deleted, options, result, session);
    await forgetStoreDeletes(pool, gone.map((b) => b.digest));
    result.blobs.deleted += gone.length;
    result.blobs.bytes += sum(gone);
    result.blobs.skipped += candidates.length - deleted.length;
    for (const b of gone) result.blobs.removed.push(b.digest);
  } finally {
    await unlockBlobDigests(session, guarded).catch((err: Error) => {
      broken = err;
    });
    // A connection that may still hold advisory locks is closed, not reused.
    session.release(broken);
  }
}

/**
 * Deletes the blobs' bytes, a few at a time; returns those deleted (failures stay queued). Stops
 * if `session`, which holds the digests' guards, loses its connection: the guards went with it, so
 * a push may be storing one of these digests again. What is left stays queued for the next run.
 */
async function deleteFromStore(
  store: BlobStore,
  blobs: BlobCandidate[],
  options: GcOptions,
  result: GcResult,
  session: pg.PoolClient,
): Promise<BlobCandidate[]> {
  const gone: BlobCandidate[] = [];
  let next = 0;
  const worker = async () => {
    while (next < blobs.length && !connectionLost(session)) {
      const blob = blobs[next++]!;
      try {
        await store.delete(blob.digest);
        gone.push(blob);
      } catch (err) {
        result.blobs.storeErrors += 1;
        options.logger?.warn({ err, digest: blob.digest }, 'garbage collection could not delete a blob from the store; the next run retries');
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.storeConcurrency ?? DEFAULT_STORE_CONCURRENCY, blobs.length) }, worker));
  if (connectionLost(session)) throw new DatabaseUnavailableError('garbage collection lost the database session guarding its deletes');
  return gone;
}

/** Store deletes an earlier run queued but did not finish (it died, or the store failed). */
async function finishPendingStoreDeletes(pool: pg.Pool, store: BlobStore, options: GcOptions, result: GcResult): Promise<void> {
  const pending = await listPendingStoreDeletes(pool, options.batchSize ?? DEFAULT_BATCH);
  if (pending.length === 0) return;
  const session = await pool.connect();
  let broken: Error | undefined;
  let guarded: string[] = [];
  try {
    guarded = await tryLockBlobDigests(session, pending.map((p) => p.digest));
    const reuploaded = await existingBlobDigests(pool, guarded);
    const todo = pending.filter((p) => guarded.includes(p.digest) && !reuploaded.has(p.digest));
    const gone = await deleteFromStore(store, todo, options, result, session);
    await forgetStoreDeletes(pool, [...reuploaded, ...gone.map((b) => b.digest)]);
    result.blobs.deleted += gone.length;
    result.blobs.bytes += sum(gone);
    for (const b of gone) result.blobs.removed.push(b.digest);
  } finally {
    await unlockBlobDigests(session, guarded).catch((err: Error) => {
      broken = err;
    });
    session.release(broken);
  }
}
