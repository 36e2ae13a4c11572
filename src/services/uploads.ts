// Blob uploads (end-4a/4b, end-5, end-6, end-11, end-13, DELETE upload): bytes are streamed
// through the digest into the store's staging area, and become a blob of the repository only after
// the digest matched and the bytes sit under their content address.
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import type pg from 'pg';
import { findBlob, findBlobLinkedInAny, findLinkedBlob, linkBlob, recordUploadedBlob } from '../db/blobs.js';
import { connectionLost } from '../db/pool.js';
import { ensureRepository } from '../db/repositories.js';
import {
  advanceUpload,
  deleteUpload,
  findUpload,
  insertUpload,
  insertUploadByName,
  lockAndLoadUpload,
  unlockUpload,
  type UploadRow,
} from '../db/uploads.js';
import { DatabaseUnavailableError } from '../db/unavailable.js';
import { RegistryError } from '../errors/registry-error.js';
import { createDigestHash, parseDigest, type DigestAlgorithm, type ParsedDigest } from '../registry/digest.js';
import { isValidName } from '../registry/names.js';
import { BlobNotFoundError, type BlobStore, type UploadBackendState } from '../storage/blob-store.js';
import { hashing, type RunningDigest } from '../hashing/running-digest.js';
import { DigestCache, fastDigest, processResumableDigests, type ResumableDigests } from '../hashing/upload-digest.js';

/** A canonical lower-case UUID; anything else never reaches PostgreSQL's uuid column (it would be a 500). */
const UPLOAD_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** An inclusive byte range as sent in the (non-RFC) `Content-Range: <start>-<end>` header. */
export interface ChunkRange {
  start: number;
  end: number;
}

export interface ChunkBody {
  /** A request body, or the chunks of a download (the pull-through cache). */
  stream: Readable | AsyncIterable<Buffer>;
  /** From `Content-Range`, when the client sent one. */
  range?: ChunkRange | undefined;
  /** From `Content-Length`, when the client sent one. */
  length?: number | undefined;
}

export interface UploadStatus {
  id: string;
  /** Bytes received so far. */
  offset: number;
}

export class UploadService {
  private readonly digests = new DigestCache();
  /** The session holding each upload's write lock while a request works on it. */
  private readonly lockSessions = new WeakMap<UploadRow, pg.PoolClient>();

  constructor(
    private readonly pool: pg.Pool,
    private readonly store: BlobStore,
    /** Connections that hold upload write locks while bytes stream (kept apart from the query pool). */
    private readonly lockPool: pg.Pool = pool,
    private readonly resumable: ResumableDigests = processResumableDigests(),
  ) {}

  async start(repository: string, hashAlgorithm: DigestAlgorithm = 'sha256'): Promise<UploadStatus> {
    const id = randomUUID();
    const backendState = await this.store.createUpload(id);
    if (!(await insertUploadByName(this.pool, { id, repository, hashAlgorithm, backendState }))) {
      // The repository's first upload: create it.
      const repositoryId = await ensureRepository(this.pool, repository);
      await insertUpload(this.pool, { id, repositoryId, hashAlgorithm, backendState });
    }
    return { id, offset: 0 };
  }

  /**
   * end-11: links a blob the source repository has; false means "start a normal upload instead".
   * Without `from`, any repository holding the blob will do (the spec's anonymous mount). Sources
   * are limited to `readable`: the repositories the client may pull ('all' without auth).
   */
  async mount(repository: string, digest: string, from: string | undefined, readable: 'all' | ReadonlySet<string> = 'all'): Promise<boolean> {
    if (from !== undefined && (!isValidName(from) || (readable !== 'all' && !readable.has(from)))) return false;
    let blob: { size: number } | undefined;
    if (from !== undefined) blob = await findLinkedBlob(this.pool, from, digest);
    else if (readable === 'all') blob = await findBlob(this.pool, digest);
    else blob = readable.size > 0 ? await findBlobLinkedInAny(this.pool, [...readable], digest) : undefined;
    if (!blob) return false;
    const repositoryId = await ensureRepository(this.pool, repository);
    try {
      await linkBlob(this.pool, repositoryId, digest);
    } catch (err) {
      // The blob was garbage-collected meanwhile: the client uploads it instead.
      if ((err as { code?: string }).code === '23503') return false;
      throw err;
    }
    return true;
  }

  async status(repository: string, id: string): Promise<UploadStatus> {
    const upload = await this.load(repository, id);
    return { id, offset: upload.offset };
  }

  /** end-5: appends one chunk (or, without Content-Range, a streamed body) at the current offset. */
  async append(repository: string, id: string, body: ChunkBody): Promise<UploadStatus> {
    return this.underLock(repository, id, null, async (upload) => {
      const { offset } = await this.appendChunk(upload, body, upload.hashAlgorithm as DigestAlgorithm);
      return { id, offset };
    });
  }

  /**
   * end-6: takes an optional last chunk, verifies the digest and commits the blob. The whole request
   * holds the digest's guard (src/db/blob-guard.ts): bytes go under the content address and the
   * row is recorded with garbage collection kept off that digest.
   */
  async complete(repository: string, id: string, digestParam: string | undefined, body?: ChunkBody): Promise<string> {
    const expected = parseDigest(digestParam);
    return this.underLock(repository, id, expected.digest, async (upload) => {
      if (body && upload.offset === 0 && (await this.store.canPutBlob?.())) return this.completeWhole(upload, expected, body);
      let size = upload.offset;
      let digest: RunningDigest | undefined;
      if (body) ({ offset: size, digest } = await this.appendChunk(upload, body, expected.algorithm, true));
      else digest = await this.continueDigest(upload, expected.algorithm, true);
      this.digests.forget(id);
      let actual: string;
      try {
        actual = digest ? await digest.finish() : await this.hashStaged(upload, size, expected.algorithm);
      } catch (err) {
        // A retried PUT whose first try moved the bytes under their content address and then could
        // not record them (the database went away): the staged bytes are gone, the blob is there.
        if (body || !isMissingFile(err) || (await this.store.stat(expected.digest))?.size !== size) throw err;
        await this.record(upload, expected, size);
        return expected.digest;
      }
      if (actual !== expected.hex) {
        await this.discard(upload);
        throw digestMismatch(expected, actual);
      }
      await this.commit(upload, expected, size);
      return expected.digest;
    });
  }

  /**
   * The whole blob in the closing request, digest known before the first byte: the store takes it
   * in one pass (S3: straight under its content address, no staging, no copy; fs: one write of the
   * staging file and a rename), made visible only if it matches. Runs under the digest's guard.
   */
  private async completeWhole(upload: UploadRow, expected: ParsedDigest, body: ChunkBody): Promise<string> {
    checkChunkRange(upload, body);
    this.digests.forget(upload.id);
    const digest = fastDigest(expected.algorithm);
    let mismatch: RegistryError | undefined;
    try {
      const size = await this.store.putBlob!(expected.digest, hashing(body.stream, digest), {
        uploadId: upload.id,
        length: announcedLength(body),
        verify: async (written) => {
          checkChunkLength(body, written);
          const actual = await digest.finish();
          if (actual !== expected.hex) throw (mismatch = digestMismatch(expected, actual));
        },
      });
      this.checkStillLocked(upload);
      if (!(await recordUploadedBlob(this.pool, upload.id, expected.digest, size))) throw cancelledMeanwhile();
    } catch (err) {
      if (err === mismatch) await this.discard(upload);
      throw err;
    }
    return expected.digest;
  }

  /**
   * end-4b: POST ?digest= with the whole blob as body. `started` hears the upload's id before the
   * first byte is staged (the pull-through cache lets late clients read the staged bytes).
   */
  async uploadWhole(repository: string, digestParam: string, body: ChunkBody, started?: (uploadId: string) => void): Promise<string> {
    const expected = parseDigest(digestParam);
    const { id } = await this.start(repository, expected.algorithm);
    started?.(id);
    try {
      return await this.complete(repository, id, digestParam, body);
    } catch (err) {
      await this.cancel(repository, id).catch(() => {});
      throw err;
    }
  }

  /** Whether readStaged works here: the store reads staged bytes cheaply while they are written (fs). */
  get canReadStaged(): boolean {
    return this.store.readStaged !== undefined;
  }

  /** The staged bytes of upload `id` from `start`, while a request writes them (see BlobStore.readStaged). */
  readStaged(id: string, start: number): Promise<Readable> {
    if (!this.store.readStaged) return Promise.reject(new Error('this blob store cannot read staged bytes while they are written'));
    return this.store.readStaged(id, start);
  }

  /** Cancels at once, even while another request writes: that request then fails to record. */
  async cancel(repository: string, id: string): Promise<void> {
    await this.discard(await this.load(repository, id));
  }

  /**
   * Runs `task` holding the upload's write lock (and, with `guardDigest`, that blob's guard).
   * Whoever comes second, in this process or on another replica, gets 416 with the current Range:
   * its chunk does not start where the upload will be once the first one is done.
   */
  private async underLock<T>(repository: string, id: string, guardDigest: string | null, task: (upload: UploadRow) => Promise<T>): Promise<T> {
    if (!UPLOAD_ID.test(id)) throw uploadUnknown(id);
    const client = await this.lockPool.connect();
    let broken: Error | undefined;
    try {
      // Read under the lock: the previous holder may have moved the offset meanwhile.
      const upload = await lockAndLoadUpload(client, id, repository, guardDigest).catch((err: Error) => {
        // Whether the locks were taken is unknown: the connection goes, and they with it.
        throw (broken = err);
      });
      if (upload === undefined) {
        const current = await this.load(repository, id);
        throw new RegistryError('RANGE_INVALID', {
          message: 'another request is writing to this upload',
          detail: { offset: current.offset },
          headers: { Range: rangeHeader(current.offset), 'Docker-Upload-UUID': id },
        });
      }
      try {
        if (upload === null) throw uploadUnknown(id);
        this.lockSessions.set(upload, client);
        return await task(upload);
      } catch (err) {
        // The store lost the staged bytes (cancelled meanwhile, or an S3 upload already sealed
        // by a commit that then failed): the session cannot continue; the client restarts.
        if (err instanceof BlobNotFoundError) throw new RegistryError('BLOB_UPLOAD_UNKNOWN', { detail: { uuid: id }, cause: err });
        throw err;
      } finally {
        await unlockUpload(client, id, guardDigest).catch((err: Error) => {
          broken = err;
        });
      }
    } finally {
      // A connection whose unlock failed may still hold the lock: destroy it rather than reuse it.
      client.release(broken);
    }
  }

  /**
   * The lock session's connection died while bytes streamed (a database restart): its advisory
   * locks went with it, so another request may be writing this upload now. Nothing is recorded;
   * the client retries and finds the upload where it was before this chunk.
   */
  private checkStillLocked(upload: UploadRow): void {
    const session = this.lockSessions.get(upload);
    if (session && connectionLost(session)) throw new DatabaseUnavailableError('the upload lock session lost its database connection');
  }

  private async load(repository: string, id: string): Promise<UploadRow> {
    const upload = UPLOAD_ID.test(id) ? await findUpload(this.pool, repository, id) : undefined;
    if (!upload) throw uploadUnknown(id);
    return upload;
  }

  /**
   * The running digest of the upload's first `offset` bytes, if one can be had without reading
   * them back: from this process's cache, from the state saved in the row, or fresh at offset 0.
   * `completesNow`: this request finishes the upload, so nothing needs saving.
   */
  private async continueDigest(upload: UploadRow, algorithm: DigestAlgorithm, completesNow: boolean): Promise<RunningDigest | undefined> {
    const cached = this.digests.take(upload.id, algorithm, upload.offset);
    if (cached) return cached;
    const saveable = !this.store.stagedReadsAreCheap && !completesNow;
    if (upload.offset === 0) return saveable ? this.resumable.open(algorithm) : fastDigest(algorithm);
    if (upload.hashState && upload.hashAlgorithm === algorithm) return this.resumable.open(algorithm, upload.hashState);
    return undefined;
  }

  private async appendChunk(
    upload: UploadRow,
    body: ChunkBody,
    algorithm: DigestAlgorithm,
    completesNow = false,
  ): Promise<{ offset: number; digest: RunningDigest | undefined }> {
    checkChunkRange(upload, body);
    const digest = await this.continueDigest(upload, algorithm, completesNow);
    let written: number;
    let state: UploadBackendState;
    try {
      ({ written, state } = await this.store.appendUpload(upload.id, hashing(body.stream, digest), {
        offset: upload.offset,
        state: upload.backendState,
        length: announcedLength(body),
      }));
      checkChunkLength(body, written);
    } catch (err) {
      digest?.dispose?.();
      throw err;
    }
    const offset = upload.offset + written;
    const hashState = digest && !completesNow ? await digest.save() : null;
    // A closing chunk is not recorded: the session row goes in the commit, and if the commit
    // fails the client's retry of the PUT finds the session as it was before.
    const progress = { from: upload.offset, to: offset, backendState: state, hashAlgorithm: algorithm, hashState };
    this.checkStillLocked(upload);
    if (!completesNow && !(await advanceUpload(this.pool, upload.id, progress))) {
      throw cancelledMeanwhile();
    }
    Object.assign(upload, { offset, backendState: state, hashAlgorithm: algorithm, hashState });
    // A digest that saved its state is spent; one that could not save goes on in this process.
    if (digest && !completesNow && hashState === null) this.digests.put(upload.id, algorithm, offset, digest);
    return { offset, digest };
  }

  private async hashStaged(upload: UploadRow, size: number, algorithm: DigestAlgorithm): Promise<string> {
    const hash = createDigestHash(algorithm);
    for await (const chunk of await this.store.readUpload(upload.id, { length: size, state: upload.backendState })) {
      hash.update(chunk as Buffer);
    }
    return hash.digest('hex');
  }

  private async commit(upload: UploadRow, digest: ParsedDigest, size: number): Promise<void> {
    // Bytes first, rows second: a crash in between leaves an unreferenced file, never a row
    // pointing at missing or partial content. complete() holds the digest's guard, so garbage
    // collection never deletes these bytes between the two (src/gc/collector.ts).
    this.checkStillLocked(upload);
    await this.store.commitUpload(upload.id, digest.digest, { size, state: upload.backendState });
    await this.record(upload, digest, size);
  }

  private async record(upload: UploadRow, digest: ParsedDigest, size: number): Promise<void> {
    this.checkStillLocked(upload);
    if (!(await recordUploadedBlob(this.pool, upload.id, digest.digest, size))) throw cancelledMeanwhile();
  }

  private async discard(upload: UploadRow): Promise<void> {
    this.digests.forget(upload.id);
    await this.store.abortUpload(upload.id, upload.backendState);
    await deleteUpload(this.pool, upload.id);
  }
}

/** A chunk's Content-Range must start where the upload is, and agree with its Content-Length. */
function checkChunkRange(upload: UploadRow, { range, length }: ChunkBody): void {
  if (!range) return;
  const rangeLength = range.end - range.start + 1;
  if (range.start !== upload.offset || (length !== undefined && length !== rangeLength)) {
    throw new RegistryError('RANGE_INVALID', {
      detail: { offset: upload.offset, contentRange: `${range.start}-${range.end}`, contentLength: length ?? null },
      headers: { Range: rangeHeader(upload.offset), 'Docker-Upload-UUID': upload.id },
    });
  }
}

/** The byte count a chunk's headers announce, if they do. */
function announcedLength({ range, length }: ChunkBody): number | undefined {
  return range ? range.end - range.start + 1 : length;
}

/** The bytes received must be as many as the chunk's headers announced. */
function checkChunkLength(body: ChunkBody, written: number): void {
  const expected = announcedLength(body);
  if (expected !== undefined && written !== expected) {
    throw new RegistryError('SIZE_INVALID', { detail: { expected, received: written } });
  }
}

function digestMismatch(expected: ParsedDigest, actualHex: string): RegistryError {
  return new RegistryError('DIGEST_INVALID', { detail: { expected: expected.digest, actual: `${expected.algorithm}:${actualHex}` } });
}

function isMissingFile(err: unknown): boolean {
  return err instanceof BlobNotFoundError || (err as { code?: unknown }).code === 'ENOENT';
}

function cancelledMeanwhile(): RegistryError {
  return new RegistryError('BLOB_UPLOAD_UNKNOWN', { message: 'upload was cancelled while this chunk was written' });
}

function uploadUnknown(id: string): RegistryError {
  return new RegistryError('BLOB_UPLOAD_UNKNOWN', { detail: { uuid: id.slice(0, 100) } });
}

/** `Range: 0-<last byte>`; an empty upload is reported as `0-0`, as Distribution does. */
export function rangeHeader(offset: number): string {
  return `0-${Math.max(offset - 1, 0)}`;
}
