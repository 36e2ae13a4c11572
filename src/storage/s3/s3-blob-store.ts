// The S3 blob store (AWS S3, MinIO, Ceph RGW, Garage, R2, s3rver). Key layout, under an optional
// prefix (BERTH_S3_PREFIX, normalised to end in "/"):
//   <prefix>blobs/<algorithm>/<first 2 hex>/<hex>   a committed blob, whole content only
//   <prefix>uploads/<uploadId>/data                 the upload's multipart upload, completed here at commit
//   <prefix>uploads/<uploadId>/tail-<end>-<random>  bytes not yet in a part (< one part in all)
//   <prefix>uploads/<uploadId>/sealed-<fingerprint>  marks `data` as completed from exactly that state
//   <prefix>uploads/<uploadId>/probe                whether the server has UploadPartCopy (once per process)
// An upload's whole progress is in its saved state (S3UploadState), so any replica continues it.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { GetObjectCommand, HeadBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { tryParseDigest } from '../../registry/digest.js';
import { listS3Blobs } from './list-blobs.js';
import { BlobNotFoundError, type BlobContent, type BlobStore, type ByteRange, type PutBlobOptions, type ReadOptions, type StoredObject, type UploadBackendState } from '../blob-store.js';
import { bodyContent, streamContent } from '../blob-content.js';
import { classifyStoreErrors } from '../classified-blob-store.js';
import { checkBucket } from './check-bucket.js';
import { createS3Client } from './s3-client.js';
import { S3Copier, type CopyLimits } from './s3-copy.js';
import { isNoSuchUpload, isS3NotFound, toStorageError } from './s3-errors.js';
import { S3Bucket } from './s3-bucket.js';
import { MAX_PARTS, PartCutter, type PartCutterOptions } from './part-cutter.js';
import {
  MAX_PART_SIZE,
  MIN_PART_SIZE,
  parseUploadState,
  stagedSize,
  toBackendState,
  type S3TailSegment,
  type S3UploadState,
} from './upload-state.js';

/** The BERTH_S3_* settings the store is made from, validated by config.ts. */
export interface S3StoreConfig {
  bucket: string;
  endpoint: string | undefined;
  region: string;
  forcePathStyle: boolean;
  prefix: string;
  /** BERTH_S3_CREATE_BUCKET: a missing bucket is created at start-up instead of stopping it. */
  createBucket: boolean;
}

/**
 * The S3 driver's entry point: a client for the endpoint, the bucket checked (an unusable one
 * stops start-up with its message), and whatever path an S3 failure takes out of the store
 * classified the same way (classified-blob-store.ts with this driver's classifier).
 */
export async function createS3BlobStore(config: S3StoreConfig): Promise<BlobStore> {
  const client = createS3Client({ region: config.region, endpoint: config.endpoint, forcePathStyle: config.forcePathStyle });
  await checkBucket(client, config.bucket, { create: config.createBucket });
  return classifyStoreErrors(new S3BlobStore(client, { bucket: config.bucket, prefix: config.prefix }), toStorageError);
}

export interface S3BlobStoreOptions {
  bucket: string;
  /** Key prefix for everything Berth stores (BERTH_S3_PREFIX); "" for the bucket root. */
  prefix?: string | undefined;
  /** Multipart part size: memory per writing request is at most two parts. 5–64 MiB; 8 MiB. */
  partSize?: number | undefined;
  /** Blobs larger than this are moved by parallel UploadPartCopy where the server has it; 32 MiB. */
  multipartCopyThreshold?: number | undefined;
  /** Part size of a server-side multipart copy; 32 MiB (raised to fit 10,000 parts). */
  copyPartSize?: number | undefined;
  /** Largest object moved with one CopyObject; 5 GiB, S3's limit (lower only to test). */
  maxCopyObjectSize?: number | undefined;
}

const MiB = 1024 * 1024;
const UPLOAD_ID = /^[0-9a-f-]{36}$/;

/** A blob read's S3 options: the Range header, and the length a ranged answer must have. */
function readOptions({ range, signal }: ReadOptions) {
  return {
    range: range && `bytes=${range.start}-${range.end}`,
    signal,
    ...(range ? { expectLength: range.end - range.start + 1 } : {}),
  };
}

export class S3BlobStore implements BlobStore {
  /** Staged parts cannot be read before CompleteMultipartUpload: the service saves its digests. */
  readonly stagedReadsAreCheap = false;
  private readonly bucket: S3Bucket;
  private readonly prefix: string;
  private readonly limits: CopyLimits;
  private readonly copier: S3Copier;
  private abortWorks: Promise<boolean> | undefined;

  constructor(client: S3Client, options: S3BlobStoreOptions) {
    this.bucket = new S3Bucket(client, options.bucket);
    const prefix = (options.prefix ?? '').replace(/^\/+/, '');
    this.prefix = prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
    const partSize = options.partSize ?? 8 * MiB;
    if (!Number.isSafeInteger(partSize) || partSize < MIN_PART_SIZE || partSize > MAX_PART_SIZE) {
      throw new Error(`S3 part size must be between 5 MiB and 64 MiB, got ${partSize}`);
    }
    this.limits = {
      partSize,
      multipartCopyThreshold: options.multipartCopyThreshold ?? 32 * MiB,
      copyPartSize: options.copyPartSize ?? 32 * MiB,
      maxCopyObjectSize: options.maxCopyObjectSize ?? 5 * 1024 * MiB,
    };
    this.copier = new S3Copier(this.bucket, this.limits);
  }

  /** Only digests this registry verifies ever become keys. */
  blobKey(digest: string): string {
    const parsed = tryParseDigest(digest);
    if (!parsed) throw new Error(`refusing to map an invalid digest to a key: ${digest.slice(0, 200)}`);
    return `${this.prefix}blobs/${parsed.algorithm}/${parsed.hex.slice(0, 2)}/${parsed.hex}`;
  }

  private uploadPrefix(uploadId: string): string {
    if (!UPLOAD_ID.test(uploadId)) throw new Error(`invalid upload id: ${uploadId.slice(0, 100)}`);
    return `${this.prefix}uploads/${uploadId}/`;
  }

  /** HeadBucket: one request that proves the endpoint, the credentials and the bucket. */
  async ping(): Promise<void> {
    await this.bucket.call('HeadBucket', () => this.bucket.client.send(new HeadBucketCommand({ Bucket: this.bucket.name })));
  }

  async stat(digest: string): Promise<{ size: number } | undefined> {
    const size = await this.bucket.size(this.blobKey(digest));
    return size === undefined ? undefined : { size };
  }

  /**
   * The object's body written into the response through reused buffers (http-object-send.ts)
   * where S3 answers 2xx to it; otherwise asked again as a stream, whose SDK call reports a
   * missing blob and classifies the failures.
   */
  async read(digest: string, options: ReadOptions = {}): Promise<BlobContent> {
    const key = this.blobKey(digest);
    const body = await this.bucket.body(key, readOptions(options));
    if (body) return bodyContent(body, 'object-get');
    const stream = await this.openStream(digest, options);
    const { range } = options;
    let length = range ? range.end - range.start + 1 : options.size;
    if (length === undefined) {
      length = await this.bucket.size(key).catch((err: unknown) => {
        stream.destroy();
        throw err;
      });
      if (length === undefined) {
        stream.destroy();
        throw new BlobNotFoundError(digest);
      }
    }
    return streamContent(stream, length);
  }

  private async openStream(digest: string, options: ReadOptions): Promise<Readable> {
    const { signal } = options;
    let body: Readable;
    try {
      body = await this.bucket.get(this.blobKey(digest), readOptions(options));
    } catch (err) {
      if (isS3NotFound(err)) throw new BlobNotFoundError(digest);
      throw err;
    }
    if (signal) {
      const onAbort = () => body.destroy(signal.reason instanceof Error ? signal.reason : undefined);
      signal.addEventListener('abort', onAbort, { once: true });
      body.once('close', () => signal.removeEventListener('abort', onAbort));
    }
    return body;
  }

  async delete(digest: string): Promise<void> {
    await this.bucket.delete(this.blobKey(digest));
  }

  listBlobs(): AsyncIterable<StoredObject> {
    return listS3Blobs(this.bucket.client, this.bucket.name, this.prefix);
  }

  async presignGet(digest: string, options: { expiresIn: number; range?: ByteRange }): Promise<string> {
    const { range } = options;
    const command = new GetObjectCommand({
      Bucket: this.bucket.name,
      Key: this.blobKey(digest),
      Range: range && `bytes=${range.start}-${range.end}`,
    });
    return getSignedUrl(this.bucket.client, command, { expiresIn: options.expiresIn });
  }

  /**
   * The multipart upload the parts at `key` go into: `existing`, or one created when the first
   * part starts. Parts may start together (one streaming in while the one before uploads): they
   * share the one creation. `created` learns the id.
   */
  private multipartOnFirstPart(key: string, existing: string, created: (id: string) => void): () => Promise<string> {
    let id: Promise<string> | undefined = existing ? Promise.resolve(existing) : undefined;
    return () =>
      (id ??= this.bucket.createMultipart(key).then((fresh) => {
        created(fresh);
        return fresh;
      }));
  }

  /** PartCutter's uploads into `multipart()`, from memory or streamed as the part fills. */
  private partUploads(
    key: string,
    multipart: () => Promise<string>,
    signal: AbortSignal | undefined,
    mapError: (err: unknown) => unknown,
  ): Pick<PartCutterOptions, 'upload' | 'uploadStream'> {
    const fail = (err: unknown) => {
      throw mapError(err);
    };
    return {
      upload: async (n, body) => this.bucket.uploadPart(key, await multipart(), n, body, signal).catch(fail),
      uploadStream: async (n, body, size, partSignal) => {
        const either = signal ? AbortSignal.any([signal, partSignal]) : partSignal;
        return this.bucket.uploadPart(key, await multipart(), n, body, either, size).catch(fail);
      },
    };
  }

  /** No request to S3 yet: the multipart upload starts with the first part (small blobs never need one). */
  async createUpload(uploadId: string): Promise<UploadBackendState> {
    const key = `${this.uploadPrefix(uploadId)}data`;
    const state: S3UploadState = { v: 1, key, multipartId: '', partSize: this.limits.partSize, parts: [], tail: [] };
    return toBackendState(state);
  }

  /**
   * Cuts the bytes into parts (uploaded as they fill, at most two in memory) behind the parts the
   * state records; what is left, less than a part, becomes a tail object. Part numbers follow
   * from the state, so a retry after a failed request reuses (overwrites) the same numbers, and
   * nothing unrecorded is ever read.
   */
  async appendUpload(
    uploadId: string,
    chunks: AsyncIterable<Buffer>,
    options: { offset: number; state: UploadBackendState; signal?: AbortSignal; length?: number },
  ): Promise<{ written: number; state: UploadBackendState }> {
    const { signal } = options;
    const state = parseUploadState(uploadId, options.state);
    const staged = stagedSize(state);
    if (options.offset !== staged) {
      throw new Error(`upload ${uploadId}: append at offset ${options.offset}, but its state holds ${staged} bytes`);
    }
    const tailSize = staged - state.parts.reduce((sum, p) => sum + p.size, 0);
    const next: S3UploadState = { ...state, parts: [...state.parts] };
    const multipart = this.multipartOnFirstPart(state.key, state.multipartId, (id) => (next.multipartId = id));
    const cutter = new PartCutter({
      partSize: state.partSize,
      firstPart: state.parts.length + 1,
      lastPart: MAX_PARTS - 1, // one left for the tail at commit
      prefix: tailSize,
      loadPrefix: (into) => this.readTail(state.tail, into, signal),
      ...this.partUploads(state.key, multipart, signal, (err) =>
        // Completed by an earlier commit attempt, or aborted: this session takes no more parts.
        isNoSuchUpload(err) ? new BlobNotFoundError(`upload ${uploadId}`) : err,
      ),
    });
    if (options.length !== undefined) cutter.announce(options.length);
    let written = 0;
    try {
      for await (const chunk of chunks) {
        written += chunk.length;
        await cutter.write(chunk);
      }
      await cutter.settle();
      next.parts.push(...cutter.parts);
      next.tail = cutter.prefixPending ? state.tail : [];
      const fresh = cutter.remainder();
      if (cutter.pending > 0 && fresh.length > 0) {
        next.tail = await this.addTail(uploadId, next.tail, fresh, staged + written, signal);
      }
    } catch (err) {
      await cutter.settle().catch(() => {});
      // A multipart upload this request started is recorded nowhere: abort it now.
      if (next.multipartId && !state.multipartId) {
        await this.bucket.abortMultipart(state.key, next.multipartId, { completeIfUnsupported: true }).catch(() => {});
      }
      throw err;
    } finally {
      cutter.release();
    }
    return { written, state: toBackendState(next) };
  }

  /**
   * Streams the first `length` staged bytes. Tail objects are read as they are; parts cannot be
   * read before CompleteMultipartUpload, so an upload with parts is completed into its staging
   * object first ("sealed"): afterwards it can only be committed or aborted, not appended to.
   */
  async readUpload(uploadId: string, options: { length: number; state: UploadBackendState }): Promise<Readable> {
    const state = parseUploadState(uploadId, options.state);
    const total = stagedSize(state);
    const { length } = options;
    if (length > total) throw new Error(`upload ${uploadId}: ${length} bytes asked, ${total} staged`);
    if (length === 0) return Readable.from([]);
    if (state.parts.length === 0) return Readable.from(this.streamTail(state.tail, length));
    await this.seal(uploadId, state, total);
    return this.bucket.get(state.key, { range: `bytes=0-${length - 1}` });
  }

  /**
   * Puts the upload under the blob's key: tail-only uploads (< one part) with one PutObject, others
   * by completing the multipart upload and copying server-side. A blob already there with the
   * same size is kept. Staging objects go last, so a failed commit can be retried.
   */
  async commitUpload(uploadId: string, digest: string, options: { size: number; state: UploadBackendState }): Promise<void> {
    const state = parseUploadState(uploadId, options.state);
    const total = stagedSize(state);
    if (options.size !== total) throw new Error(`upload ${uploadId}: commit of ${options.size} bytes, but ${total} are staged`);
    const blobKey = this.blobKey(digest);
    let sealed = false;
    if ((await this.bucket.size(blobKey)) !== total) {
      if (state.parts.length === 0) {
        const bytes = Buffer.allocUnsafe(total);
        await this.readTail(state.tail, bytes);
        await this.bucket.put(blobKey, bytes);
      } else {
        await this.seal(uploadId, state, total);
        sealed = true;
        await this.copier.copy(state.key, blobKey, total, `${this.uploadPrefix(uploadId)}probe`);
      }
    }
    // The blob is in place: failing to tidy the staging objects must not fail the push (the
    // leftovers under uploads/<id>/ are garbage for a bucket lifecycle rule or a later sweep).
    await this.discardStaging(uploadId, sealed ? null : state).catch(() => {});
  }

  /**
   * A multipart upload at a blob's key that fails verification must be aborted: completing it to
   * be rid of it (what staging uploads do on servers without AbortMultipartUpload) would put
   * wrong bytes under a content address. So putBlob is used only where abort works, learnt once
   * from a probe in the staging area.
   */
  async canPutBlob(): Promise<boolean> {
    this.abortWorks ??= this.probeAbort().catch((err: unknown) => {
      this.abortWorks = undefined;
      throw err;
    });
    return this.abortWorks;
  }

  private async probeAbort(): Promise<boolean> {
    const key = `${this.uploadPrefix(randomUUID())}probe-abort`;
    const multipartId = await this.bucket.createMultipart(key);
    if (await this.bucket.tryAbortMultipart(key, multipartId)) return true;
    await this.bucket.abortMultipart(key, multipartId, { completeIfUnsupported: true });
    await this.bucket.delete(key).catch(() => {});
    return false;
  }

  /**
   * Parts go straight into a multipart upload at the blob's key, so committing needs no copy; the
   * upload is completed only after `verify` passed (until then S3 shows nothing at the key). A
   * blob already there is overwritten with the same verified bytes.
   */
  async putBlob(digest: string, chunks: AsyncIterable<Buffer>, options: PutBlobOptions): Promise<number> {
    if (!(await this.canPutBlob())) throw new Error('putBlob needs AbortMultipartUpload, which this S3 server lacks');
    const { signal } = options;
    const key = this.blobKey(digest);
    let multipartId = '';
    const multipart = this.multipartOnFirstPart(key, '', (id) => (multipartId = id));
    const cutter = new PartCutter({
      partSize: this.limits.partSize,
      firstPart: 1,
      lastPart: MAX_PARTS,
      prefix: 0,
      loadPrefix: async () => {},
      ...this.partUploads(key, multipart, signal, (err) => err),
    });
    if (options.length !== undefined) cutter.announce(options.length);
    let size = 0;
    try {
      for await (const chunk of chunks) {
        size += chunk.length;
        await cutter.write(chunk);
      }
      if (cutter.pending === size) {
        // Less than one part: one PutObject, once the digest matched.
        await options.verify(size);
        await this.bucket.put(key, cutter.remainder(), signal);
        return size;
      }
      await cutter.flush();
      await cutter.settle();
      await options.verify(size);
      await this.bucket.completeMultipart(key, multipartId, cutter.parts);
      return size;
    } catch (err) {
      await cutter.settle().catch(() => {});
      if (multipartId) await this.bucket.abortMultipart(key, multipartId, { completeIfUnsupported: false }).catch(() => {});
      throw err;
    } finally {
      cutter.release();
    }
  }

  async abortUpload(uploadId: string, raw: UploadBackendState): Promise<void> {
    await this.discardStaging(uploadId, raw === null ? null : parseUploadState(uploadId, raw));
  }

  /**
   * Aborts the multipart upload of `state` (null: none pending) and any unrecorded ones, then
   * deletes the staging objects.
   */
  private async discardStaging(uploadId: string, state: S3UploadState | null): Promise<void> {
    const prefix = this.uploadPrefix(uploadId);
    if (state?.multipartId) await this.bucket.abortMultipart(state.key, state.multipartId, { completeIfUnsupported: true });
    await this.bucket.abortAllMultipart(prefix);
    await this.bucket.deletePrefix(prefix);
  }

  /**
   * Completes the multipart upload into the staging object (the tail as last part), then leaves a
   * marker named after exactly this state, so sealing the same state again is a no-op. A staging
   * object sealed from another state (a commit that failed after completing, retried with a
   * different last chunk) is never taken for this one: completing again fails instead.
   */
  private async seal(uploadId: string, state: S3UploadState, total: number): Promise<void> {
    const fingerprint = createHash('sha256')
      .update(JSON.stringify([state.multipartId, state.parts, state.tail]))
      .digest('hex')
      .slice(0, 32);
    const marker = `${this.uploadPrefix(uploadId)}sealed-${fingerprint}`;
    if ((await this.bucket.size(marker)) !== undefined) return;
    const parts = [...state.parts];
    if (state.tail.length > 0) {
      const bytes = Buffer.allocUnsafe(total - parts.reduce((sum, p) => sum + p.size, 0));
      await this.readTail(state.tail, bytes);
      const n = parts.length + 1;
      parts.push({ n, etag: await this.bucket.uploadPart(state.key, state.multipartId, n, bytes), size: bytes.length });
    }
    await this.bucket.completeMultipart(state.key, state.multipartId, parts);
    await this.bucket.put(marker, Buffer.alloc(0));
  }

  /**
   * Stores `fresh` as a new tail object, merged with the last tail objects while they are at most
   * twice its size: each object is then over twice the next, so there are at most ~23 of them,
   * and a byte is rewritten O(log n) times however small the appends.
   */
  private async addTail(
    uploadId: string,
    tail: S3TailSegment[],
    fresh: Buffer,
    end: number,
    signal?: AbortSignal,
  ): Promise<S3TailSegment[]> {
    let keep = tail.length;
    let size = fresh.length;
    while (keep > 0 && tail[keep - 1]!.size <= 2 * size) size += tail[--keep]!.size;
    let body = fresh;
    if (keep < tail.length) {
      body = Buffer.allocUnsafe(size);
      await this.readTail(tail.slice(keep), body.subarray(0, size - fresh.length), signal);
      fresh.copy(body, size - fresh.length);
    }
    const key = `${this.uploadPrefix(uploadId)}tail-${end}-${randomBytes(6).toString('hex')}`;
    await this.bucket.put(key, body, signal);
    return [...tail.slice(0, keep), { key, size }];
  }

  /** Reads tail objects, in order, into `into` (their total size), in parallel. */
  private async readTail(tail: S3TailSegment[], into: Buffer, signal?: AbortSignal): Promise<void> {
    let at = 0;
    await Promise.all(
      tail.map((seg) => {
        const view = into.subarray(at, (at += seg.size));
        return this.bucket.readInto(seg.key, view, signal);
      }),
    );
    if (at !== into.length) throw new Error(`tail objects hold ${at} bytes, ${into.length} expected`);
  }

  private async *streamTail(tail: S3TailSegment[], length: number): AsyncIterable<Buffer> {
    let left = length;
    for (const seg of tail) {
      if (left <= 0) return;
      for await (const chunk of await this.bucket.get(seg.key)) {
        const bytes = (chunk as Buffer).subarray(0, left);
        left -= bytes.length;
        yield bytes;
        if (left <= 0) return;
      }
    }
  }
}
