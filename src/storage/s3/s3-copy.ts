// Moves a completed staging object to its content address, server-side where the server can:
// large objects by parallel UploadPartCopy (what AWS and MinIO do fastest), others by CopyObject
// (up to 5 GiB). A server with neither (s3rver lacks UploadPartCopy; above 5 GiB it has nothing)
// gets the bytes streamed through this process, two parts in memory at most. Every path ends in
// one atomic CopyObject or CompleteMultipartUpload: the destination only ever holds whole content.
import { CopyObjectCommand, UploadPartCopyCommand } from '@aws-sdk/client-s3';
import { isNotImplemented } from './s3-errors.js';
import type { S3Bucket } from './s3-bucket.js';
import { MAX_PARTS, PartCutter } from './part-cutter.js';
import type { S3Part } from './upload-state.js';

export interface CopyLimits {
  /** Objects larger than this are copied by parallel UploadPartCopy, where the server has it. */
  multipartCopyThreshold: number;
  /** Part size of a multipart copy (each ≤ 5 GiB; raised so the copy fits in 10,000 parts). */
  copyPartSize: number;
  /** Largest object copied with one CopyObject (S3: 5 GiB). */
  maxCopyObjectSize: number;
  /** Part size when the bytes stream through this process. */
  partSize: number;
}

/** UploadPartCopy requests in flight at once. */
const COPY_CONCURRENCY = 8;

export class S3Copier {
  /** Whether the server implements UploadPartCopy; learnt once, from a probe in a staging area. */
  private partCopy: boolean | undefined;

  constructor(
    private readonly bucket: S3Bucket,
    private readonly limits: CopyLimits,
  ) {}

  /** Copies `from` to `to` (`size` bytes); `scratchKey` is a staging key the caller deletes later. */
  async copy(from: string, to: string, size: number, scratchKey: string): Promise<void> {
    const { bucket, limits } = this;
    try {
      if (size > limits.multipartCopyThreshold) {
        this.partCopy ??= await this.probePartCopy(from, scratchKey);
        if (this.partCopy) return await multipartCopy(bucket, from, to, size, limits);
      }
      if (size <= limits.maxCopyObjectSize) {
        await bucket.call('CopyObject', () =>
          bucket.client.send(new CopyObjectCommand({ Bucket: bucket.name, Key: to, CopySource: copySource(bucket.name, from) })),
        );
        return;
      }
    } catch (err) {
      if (!isNotImplemented(err)) throw err;
    }
    await streamCopy(bucket, from, to, size, limits.partSize);
  }

  /**
   * Tries UploadPartCopy on a multipart upload under `scratchKey`, not under the blob's key: a
   * server without it may also lack AbortMultipartUpload, and a staging upload can then still be
   * cleaned up by completing it, which a blob's key must never be.
   */
  private async probePartCopy(from: string, scratchKey: string): Promise<boolean> {
    const { bucket } = this;
    const multipartId = await bucket.createMultipart(scratchKey);
    try {
      await uploadPartCopy(bucket, from, scratchKey, multipartId, 1, 0, 0);
      return true;
    } catch (err) {
      if (isNotImplemented(err)) return false;
      throw err;
    } finally {
      await bucket.abortMultipart(scratchKey, multipartId, { completeIfUnsupported: true }).catch(() => {});
    }
  }
}

/** `bucket/key`, URL-encoded per segment as CopySource requires. */
function copySource(bucketName: string, key: string): string {
  return [bucketName, ...key.split('/')].map(encodeURIComponent).join('/');
}

async function multipartCopy(bucket: S3Bucket, from: string, to: string, size: number, limits: CopyLimits): Promise<void> {
  const partSize = Math.max(limits.copyPartSize, Math.ceil(size / MAX_PARTS));
  const count = Math.ceil(size / partSize);
  const multipartId = await bucket.createMultipart(to);
  try {
    const parts: S3Part[] = new Array(count);
    let next = 0;
    let failed = false;
    const worker = async () => {
      while (next < count && !failed) {
        const i = next++;
        const start = i * partSize;
        const end = Math.min(size, start + partSize) - 1;
        const etag = await uploadPartCopy(bucket, from, to, multipartId, i + 1, start, end).catch((err: unknown) => {
          failed = true;
          throw err;
        });
        parts[i] = { n: i + 1, etag, size: end - start + 1 };
      }
    };
    // Every worker stops before the upload is completed or aborted.
    const results = await Promise.allSettled(Array.from({ length: Math.min(COPY_CONCURRENCY, count) }, worker));
    for (const r of results) if (r.status === 'rejected') throw r.reason;
    await bucket.completeMultipart(to, multipartId, parts);
  } catch (err) {
    await bucket.abortMultipart(to, multipartId, { completeIfUnsupported: false }).catch(() => {});
    throw err;
  }
}

async function uploadPartCopy(
  bucket: S3Bucket,
  from: string,
  to: string,
  multipartId: string,
  partNumber: number,
  start: number,
  end: number,
): Promise<string> {
  const out = await bucket.call('UploadPartCopy', () =>
    bucket.client.send(
      new UploadPartCopyCommand({
        Bucket: bucket.name,
        Key: to,
        UploadId: multipartId,
        PartNumber: partNumber,
        CopySource: copySource(bucket.name, from),
        CopySourceRange: `bytes=${start}-${end}`,
      }),
    ),
  );
  const etag = out.CopyPartResult?.ETag;
  // A server that ignored the copy header would have stored an empty part: refuse it.
  if (!etag) throw Object.assign(new Error('UploadPartCopy returned no CopyPartResult'), { name: 'NotImplemented' });
  return etag;
}

/** GetObject → parts of `partSize` → CompleteMultipartUpload, never more than two parts in memory. */
async function streamCopy(bucket: S3Bucket, from: string, to: string, size: number, partSize: number): Promise<void> {
  const multipartId = await bucket.createMultipart(to);
  const cutter = new PartCutter({
    partSize,
    firstPart: 1,
    lastPart: MAX_PARTS,
    prefix: 0,
    loadPrefix: async () => {},
    upload: (n, body) => bucket.uploadPart(to, multipartId, n, body),
  });
  try {
    for await (const chunk of await bucket.get(from)) await cutter.write(chunk as Buffer);
    await cutter.flush();
    await cutter.settle();
    const copied = cutter.parts.reduce((sum, p) => sum + p.size, 0);
    if (copied !== size) throw new Error(`copying ${from}: read ${copied} bytes, expected ${size}`);
    await bucket.completeMultipart(to, multipartId, cutter.parts);
  } catch (err) {
    await cutter.settle().catch(() => {});
    await bucket.abortMultipart(to, multipartId, { completeIfUnsupported: false }).catch(() => {});
    throw err;
  } finally {
    cutter.release();
  }
}
