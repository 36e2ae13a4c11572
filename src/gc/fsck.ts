// `berth fsck`: does the blob store hold what PostgreSQL says it holds? Every blob row must have its
// object, of the recorded size (and with `deep`, of the right digest), and every object under the
// content-address layout should have a row. It only reads; a collection or a push running at the
// same time can make a finding stale, so each one is checked again against the database before it
// is reported.
import type pg from 'pg';
import { existingBlobDigests, listBlobRows, type BlobCandidate } from '../db/gc.js';
import { createDigestHash, tryParseDigest } from '../registry/digest.js';
import { BlobNotFoundError, type BlobStore } from '../storage/blob-store.js';

export type FsckProblem =
  | { kind: 'missing'; digest: string; size: number }
  | { kind: 'size'; digest: string; size: number; stored: number }
  | { kind: 'digest'; digest: string; actual: string }
  | { kind: 'unknown'; location: string; digest: string | undefined; size: number };

export interface FsckReport {
  deep: boolean;
  /** Blob rows checked, and their bytes. */
  blobs: number;
  bytes: number;
  /** Objects found in the store. */
  objects: number;
  problems: FsckProblem[];
}

const PAGE = 5000;
const CONCURRENCY = 16;

export async function fsck(pool: pg.Pool, store: BlobStore, options: { deep?: boolean } = {}): Promise<FsckReport> {
  const deep = options.deep ?? false;
  const report: FsckReport = { deep, blobs: 0, bytes: 0, objects: 0, problems: [] };
  const suspects: FsckProblem[] = [];
  for (let after: string | null = null; ; ) {
    const rows = await listBlobRows(pool, after, PAGE);
    if (rows.length === 0) break;
    await inParallel(rows, async (row) => {
      const problem = await checkBlob(store, row, deep);
      if (problem) suspects.push(problem);
    });
    report.blobs += rows.length;
    report.bytes += rows.reduce((s, r) => s + r.size, 0);
    after = rows[rows.length - 1]!.digest;
  }
  // A row deleted since it was read (collected) is no problem.
  const stillThere = await existingBlobDigests(pool, suspects.map((p) => (p as { digest: string }).digest));
  report.problems.push(...suspects.filter((p) => stillThere.has((p as { digest: string }).digest)));

  let unknown: (FsckProblem & { kind: 'unknown' })[] = [];
  const flush = async () => {
    const known = await existingBlobDigests(pool, unknown.flatMap((u) => (u.digest ? [u.digest] : [])));
    report.problems.push(...unknown.filter((u) => !u.digest || !known.has(u.digest)));
    unknown = [];
  };
  for await (const object of store.listBlobs()) {
    report.objects += 1;
    unknown.push({ kind: 'unknown', location: object.location, digest: object.digest, size: object.size });
    if (unknown.length >= PAGE) await flush();
  }
  await flush();
  return report;
}

async function checkBlob(store: BlobStore, row: BlobCandidate, deep: boolean): Promise<FsckProblem | undefined> {
  const stored = await store.stat(row.digest);
  if (!stored) return { kind: 'missing', digest: row.digest, size: row.size };
  if (stored.size !== row.size) return { kind: 'size', digest: row.digest, size: row.size, stored: stored.size };
  if (!deep) return undefined;
  const parsed = tryParseDigest(row.digest);
  if (!parsed) return { kind: 'digest', digest: row.digest, actual: 'not a valid digest' };
  const hash = createDigestHash(parsed.algorithm);
  try {
    for await (const chunk of (await store.read(row.digest, { size: row.size })).stream()) hash.update(chunk as Buffer);
  } catch (err) {
    if (err instanceof BlobNotFoundError) return { kind: 'missing', digest: row.digest, size: row.size };
    throw err;
  }
  const actual = `${parsed.algorithm}:${hash.digest('hex')}`;
  return actual === row.digest ? undefined : { kind: 'digest', digest: row.digest, actual };
}

async function inParallel<T>(items: T[], fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, items.length) }, worker));
}

/** One line per problem, as `berth fsck` prints them. */
export function describeProblem(p: FsckProblem): string {
  switch (p.kind) {
    case 'missing':
      return `missing  ${p.digest}: PostgreSQL has it (${p.size} bytes), the store does not`;
    case 'size':
      return `size     ${p.digest}: PostgreSQL says ${p.size} bytes, the store holds ${p.stored}`;
    case 'digest':
      return `digest   ${p.digest}: the stored bytes hash to ${p.actual}`;
    case 'unknown':
      return `unknown  ${p.location} (${p.size} bytes): in the store, not in PostgreSQL${p.digest ? '' : ' (not a content address)'}`;
  }
}
