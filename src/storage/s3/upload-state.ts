// The state of an S3 upload session, saved as JSON in the uploads row after every append so any
// replica can continue it: everything a later request needs is in here, nothing in memory.
import type { UploadBackendState } from '../blob-store.js';

/** S3's minimum for every part but the last. */
export const MIN_PART_SIZE = 5 * 1024 * 1024;
/** A writing request holds up to two parts in memory: keep that bounded. */
export const MAX_PART_SIZE = 64 * 1024 * 1024;

/** A part of the multipart upload, as UploadPart acknowledged it. */
export interface S3Part {
  /** Part number, 1…10000; parts are numbered 1, 2, 3… in the order of the bytes. */
  n: number;
  etag: string;
  size: number;
}

/** A small object under the upload's staging prefix holding bytes not yet in a part. */
export interface S3TailSegment {
  key: string;
  size: number;
}

/**
 * `key` is the staging object the multipart upload `multipartId` completes into ("" until the
 * first part is uploaded); the upload's bytes are `parts` in order, then `tail` in order. Every
 * part is exactly `partSize` bytes (R2 requires equal parts; S3 wants ≥ 5 MiB), fixed when the
 * upload starts so replicas configured differently still agree. The tail is what is left
 * (< partSize in all), kept as a few objects whose sizes shrink geometrically, so small appends
 * neither re-upload the tail each time nor pile up objects; it becomes the last part at commit.
 */
export interface S3UploadState {
  v: 1;
  key: string;
  multipartId: string;
  partSize: number;
  parts: S3Part[];
  tail: S3TailSegment[];
}

export function stagedSize(state: S3UploadState): number {
  let total = 0;
  for (const p of state.parts) total += p.size;
  for (const t of state.tail) total += t.size;
  return total;
}

/** The saved JSON, checked: a state from another driver or a bug fails loudly, not with odd bytes. */
export function parseUploadState(uploadId: string, raw: UploadBackendState): S3UploadState {
  const s = raw as Partial<S3UploadState> | null;
  const fail = (why: string): never => {
    throw new Error(`upload ${uploadId}: backend state is not an S3 upload state (${why})`);
  };
  if (!s || typeof s !== 'object') return fail('missing');
  if (s.v !== 1) fail('unknown version');
  if (typeof s.key !== 'string' || typeof s.multipartId !== 'string') fail('no key or multipart id');
  if (!isSize(s.partSize) || s.partSize < MIN_PART_SIZE || s.partSize > MAX_PART_SIZE) fail('part size');
  if (!Array.isArray(s.parts) || !Array.isArray(s.tail)) fail('no parts or tail');
  const parts = s.parts as unknown[];
  const tail = s.tail as unknown[];
  parts.forEach((p, i) => {
    const part = p as Partial<S3Part>;
    if (part?.n !== i + 1 || typeof part.etag !== 'string' || part.size !== s.partSize) fail(`part ${i + 1}`);
  });
  tail.forEach((t, i) => {
    const seg = t as Partial<S3TailSegment>;
    if (typeof seg?.key !== 'string' || !isSize(seg.size)) fail(`tail segment ${i}`);
  });
  return {
    v: 1,
    key: s.key as string,
    multipartId: s.multipartId as string,
    partSize: s.partSize as number,
    parts: (parts as S3Part[]).map(({ n, etag, size }) => ({ n, etag, size })),
    tail: (tail as S3TailSegment[]).map(({ key, size }) => ({ key, size })),
  };
}

function isSize(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** The JSON the service stores; a plain object so JSON.parse(JSON.stringify(x)) gives it back. */
export function toBackendState(state: S3UploadState): UploadBackendState {
  const { key, multipartId, partSize, parts, tail } = state;
  return { v: 1, key, multipartId, partSize, parts, tail };
}
