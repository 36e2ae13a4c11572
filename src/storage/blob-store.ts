// The one storage interface: bytes by digest, plus staging areas for uploads in progress. It knows
// nothing of repositories, tags or HTTP; the services decide what is visible.
import type { Readable, Writable } from 'node:stream';

/** An object found under the store's content addresses (`berth fsck`). */
export interface StoredObject {
  /** The blob's digest; undefined for an object whose name is not a content address. */
  digest: string | undefined;
  /** Where it is: a path relative to the store root, or an S3 key. */
  location: string;
  size: number;
}

/** Backend-specific state of an upload, saved in the uploads row so any replica can continue it. */
export type UploadBackendState = Record<string, unknown> | null;

export interface ByteRange {
  /** First byte, inclusive. */
  start: number;
  /** Last byte, inclusive. */
  end: number;
}

/** A blob's bytes on their way from the backend, headers read, body not yet. */
export interface BlobBody {
  /** Bytes the backend announced. */
  readonly length: number;
  /**
   * Writes the bytes to `out` (a response) and ends it. A failure after the headers went out can
   * only cut the response short (out.destroy); the promise settles either way, once nothing more
   * happens.
   */
  sendTo(out: Writable): Promise<void>;
  /** Lets go of a body that will not be sent. */
  cancel(): void;
}

/**
 * What a blob read gives: the bytes, sent the fastest way the driver has (sendTo), or as a stream
 * for readers inside Berth (image configs, fsck). Use one of sendTo, stream and cancel, once.
 */
export interface BlobContent extends BlobBody {
  /**
   * How the bytes travel: `file` (read from the open file into reused buffers, storage/fs/send-file.ts),
   * `object-get` (the S3 object's body read into reused buffers, storage/s3/http-object-send.ts) or
   * `stream` (a Readable piped through).
   */
  readonly via: 'file' | 'object-get' | 'stream';
  /** The bytes as a Readable. */
  stream(): Readable;
}

export interface ReadOptions {
  range?: ByteRange | undefined;
  signal?: AbortSignal | undefined;
  /** The blob's size when the caller knows it (its database row): the store need not ask for it. */
  size?: number | undefined;
}

export interface BlobStore {
  /**
   * Whether reading an upload's staged bytes back is cheap (a local file) or not (S3). When it is
   * not, running digests are saved in the database after every chunk so no replica re-reads.
   */
  readonly stagedReadsAreCheap: boolean;
  /**
   * A cheap check that the backend answers and the blob area is usable (readiness probe): resolves,
   * or throws StorageUnavailableError saying why.
   */
  ping(): Promise<void>;
  /** Size of a committed blob, or undefined when the store has no such blob. */
  stat(digest: string): Promise<{ size: number } | undefined>;
  /**
   * The one read of a committed blob (or part of it), for a pull and for readers inside Berth
   * alike; throws BlobNotFoundError when it is missing, before any byte is promised to anyone.
   */
  read(digest: string, options?: ReadOptions): Promise<BlobContent>;
  delete(digest: string): Promise<void>;

  createUpload(uploadId: string): Promise<UploadBackendState>;
  /**
   * Appends bytes at `offset`; anything staged beyond `offset` (left by an interrupted request) is
   * discarded first. Resolves once the bytes are durable in the staging area.
   */
  appendUpload(
    uploadId: string,
    chunks: AsyncIterable<Buffer>,
    options: {
      offset: number;
      state: UploadBackendState;
      signal?: AbortSignal;
      /** Bytes the request announced (Content-Length), when it did: a store may plan with it. */
      length?: number;
    },
  ): Promise<{ written: number; state: UploadBackendState }>;
  /** Streams the first `length` staged bytes of an upload (to hash them when no saved state fits). */
  readUpload(uploadId: string, options: { length: number; state: UploadBackendState }): Promise<Readable>;
  /**
   * Optional (fs): the staged bytes of an upload from `start` to what the staging area holds now,
   * readable while another request still writes them (the pull-through cache streams a layer to
   * late clients this way). Rejects with BlobNotFoundError once the upload is gone (committed or
   * cancelled); a staging area that was emptied (a failed write) reads as empty.
   */
  readStaged?(uploadId: string, start: number): Promise<Readable>;
  /** Moves a finished upload under its content address atomically; an existing copy is kept. */
  commitUpload(uploadId: string, digest: string, options: { size: number; state: UploadBackendState }): Promise<void>;
  abortUpload(uploadId: string, state: UploadBackendState): Promise<void>;
  /**
   * Stores a whole blob whose digest is known before its first byte, the upload `uploadId` being
   * empty: in one pass, with none of the append-then-commit steps (S3: straight under the content
   * address, no staging and no copy; fs: the upload's staging file written once and renamed).
   * `verify` runs after the last byte, before anything becomes visible; when it throws, nothing is
   * stored under the content address (whatever the staging area holds goes with abortUpload).
   * Resolves with the number of bytes taken. An existing blob of that digest is kept.
   */
  putBlob?(digest: string, chunks: AsyncIterable<Buffer>, options: PutBlobOptions): Promise<number>;
  /** Whether putBlob can be used now (it may depend on what the backend implements). */
  canPutBlob?(): Promise<boolean>;
  /**
   * A short-lived URL that serves the committed blob straight from the backend (end-2 may answer
   * 307 to it), for stores that have one. With `range`, the URL is valid only with exactly that
   * `Range` header; without it, the backend honours whatever Range the client sends.
   */
  presignGet?(digest: string, options: { expiresIn: number; range?: ByteRange }): Promise<string>;
  /** Every object stored under the content-address layout (`berth fsck`), in no particular order. */
  listBlobs(): AsyncIterable<StoredObject>;
}

export interface PutBlobOptions {
  /** The upload being completed (empty so far). */
  uploadId: string;
  /** Runs after the last byte with the byte count; throws to refuse the blob. */
  verify: (size: number) => void | Promise<void>;
  signal?: AbortSignal;
  /** Bytes the request announced (Content-Length), when it did. */
  length?: number;
}

export class BlobNotFoundError extends Error {
  override name = 'BlobNotFoundError';
  constructor(readonly digest: string) {
    super(`blob ${digest} not found in the blob store`);
  }
}

/**
 * The backend cannot serve right now (throttled, 5xx, unreachable, bucket gone): a retryable
 * condition, answered with 503 and `Retry-After`, never a 500 or a partial blob.
 */
export class StorageUnavailableError extends Error {
  override name = 'StorageUnavailableError';
  constructor(
    message: string,
    /** Seconds a client should wait before trying again. */
    readonly retryAfterSeconds = 5,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * The storage has no room left (ENOSPC, EDQUOT, an S3 server's "storage full" or quota answer), or
 * less free space than Berth's reserve (BERTH_MIN_FREE_SPACE): answered with 507 and
 * `Retry-After`. What the failed request staged is released before this is thrown.
 */
export class StorageFullError extends Error {
  override name = 'StorageFullError';
  /** Seconds a client should wait before trying again: room comes back only when someone frees it. */
  readonly retryAfterSeconds = 60;
}

/** Error codes of a filesystem with no room: no space on the device, or the user's quota used up. */
const NO_SPACE_CODES = new Set(['ENOSPC', 'EDQUOT']);

export function isNoSpace(err: unknown): boolean {
  return NO_SPACE_CODES.has((err as NodeJS.ErrnoException | null)?.code ?? '');
}
