// Small S3 operations shared by the s3 blob store's modules: one bucket, SDK errors turned into
// StorageUnavailableError where they mean "try again later", bodies read into place.
import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { isNoSuchUpload, isNotImplemented, isS3NotFound, toStorageError } from './s3-errors.js';
import type { BlobBody } from '../blob-store.js';
import { PresignedGets } from './presigned-gets.js';
import type { S3Part } from './upload-state.js';

interface LengthExpectation {
  range?: string | undefined;
  expectLength?: number;
}

const answeredAsExpected = (length: number, { expectLength }: LengthExpectation) => expectLength === undefined || length === expectLength;

function wrongLength(key: string, length: number, { range, expectLength }: LengthExpectation): Error {
  return new Error(`S3 answered ${length} bytes for ${key} (${range ?? 'whole'}), ${expectLength} expected`);
}

export class S3Bucket {
  private readonly presigned: PresignedGets;

  constructor(
    readonly client: S3Client,
    readonly name: string,
  ) {
    this.presigned = new PresignedGets(client);
  }

  /** Runs one SDK call; throttling, 5xx and network failures become StorageUnavailableError. */
  async call<T>(what: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      throw toStorageError(err, what);
    }
  }

  /** Size of an object, or undefined when there is none. */
  async size(key: string): Promise<number | undefined> {
    try {
      const head = await this.call('HeadObject', () => this.client.send(new HeadObjectCommand({ Bucket: this.name, Key: key })));
      return head.ContentLength ?? 0;
    } catch (err) {
      if (isS3NotFound(err)) return undefined;
      throw err;
    }
  }

  /**
   * Streams an object or a range of it. With `expectLength`, a response of another length (a
   * server that ignored the Range) is refused before any byte is used: the caller has already
   * promised its client that many bytes.
   */
  async get(
    key: string,
    options: { range?: string | undefined; signal?: AbortSignal | undefined; expectLength?: number } = {},
  ): Promise<Readable> {
    let got = await this.presigned.get(this.name, key, options);
    if (!got) {
      const out = await this.call('GetObject', () =>
        this.client.send(new GetObjectCommand({ Bucket: this.name, Key: key, Range: options.range }), { abortSignal: options.signal }),
      );
      got = { body: out.Body as Readable, length: out.ContentLength };
    }
    if (got.length !== undefined && !answeredAsExpected(got.length, options)) {
      // undici's body reports a destroy as an error: nobody else listens to this one.
      got.body.on('error', () => {});
      got.body.destroy();
      throw wrongLength(key, got.length, options);
    }
    return got.body;
  }

  /**
   * An object's bytes (or a range's) for writing into a response, or undefined when S3 did not
   * answer 2xx (a missing key included): get() then asks through the SDK, which classifies it.
   */
  async body(key: string, options: { range?: string | undefined; signal?: AbortSignal | undefined; expectLength?: number }): Promise<BlobBody | undefined> {
    const got = await this.presigned.body(this.name, key, options);
    if (got && !answeredAsExpected(got.length, options)) {
      got.cancel();
      throw wrongLength(key, got.length, options);
    }
    return got;
  }

  /** Reads a whole object of known size into `into` (exactly), e.g. a tail segment. */
  async readInto(key: string, into: Buffer, signal?: AbortSignal): Promise<void> {
    let at = 0;
    for await (const chunk of await this.get(key, { signal })) {
      const bytes = chunk as Buffer;
      if (at + bytes.length > into.length) throw new Error(`S3 object ${key} is longer than the ${into.length} bytes recorded`);
      bytes.copy(into, at);
      at += bytes.length;
    }
    if (at !== into.length) throw new Error(`S3 object ${key} holds ${at} bytes, ${into.length} were recorded`);
  }

  async put(key: string, body: Buffer, signal?: AbortSignal): Promise<void> {
    await this.call('PutObject', () =>
      this.client.send(new PutObjectCommand({ Bucket: this.name, Key: key, Body: body, ContentLength: body.length }), { abortSignal: signal }),
    );
  }

  async delete(key: string): Promise<void> {
    await this.call('DeleteObject', () => this.client.send(new DeleteObjectCommand({ Bucket: this.name, Key: key })));
  }

  /** Deletes every object under `prefix` (a handful: an upload's staging objects). */
  async deletePrefix(prefix: string): Promise<void> {
    let token: string | undefined;
    do {
      const page = await this.call('ListObjectsV2', () =>
        this.client.send(new ListObjectsV2Command({ Bucket: this.name, Prefix: prefix, ContinuationToken: token })),
      );
      await Promise.all((page.Contents ?? []).map((o) => (o.Key ? this.delete(o.Key) : undefined)));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async createMultipart(key: string): Promise<string> {
    const out = await this.call('CreateMultipartUpload', () =>
      this.client.send(new CreateMultipartUploadCommand({ Bucket: this.name, Key: key, ContentType: 'application/octet-stream' })),
    );
    if (!out.UploadId) throw new Error('CreateMultipartUpload returned no upload id');
    return out.UploadId;
  }

  /**
   * A part from memory (signed with its SHA-256, retried by the SDK) or from a stream of exactly
   * `size` bytes (sent as UNSIGNED-PAYLOAD, as the SDK does for any stream, and never retried).
   */
  async uploadPart(key: string, multipartId: string, n: number, body: Buffer | Readable, signal?: AbortSignal, size?: number): Promise<string> {
    const length = Buffer.isBuffer(body) ? body.length : size;
    const out = await this.call('UploadPart', () =>
      this.client.send(
        new UploadPartCommand({ Bucket: this.name, Key: key, UploadId: multipartId, PartNumber: n, Body: body, ContentLength: length }),
        { abortSignal: signal },
      ),
    );
    if (!out.ETag) throw new Error(`UploadPart ${n} returned no ETag`);
    return out.ETag;
  }

  async completeMultipart(key: string, multipartId: string, parts: S3Part[]): Promise<void> {
    await this.call('CompleteMultipartUpload', () =>
      this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.name,
          Key: key,
          UploadId: multipartId,
          MultipartUpload: { Parts: parts.map((p) => ({ PartNumber: p.n, ETag: p.etag })) },
        }),
      ),
    );
  }

  /**
   * Aborts a multipart upload, freeing its parts. One that is already gone is fine. On a server
   * without AbortMultipartUpload (s3rver), a staging upload (`completeIfUnsupported`) is
   * completed into its key instead, which the caller then deletes with the other staging
   * objects; any other is left (never complete a partial object under a blob's key).
   */
  /** Aborts a multipart upload; false when the server does not implement AbortMultipartUpload. */
  async tryAbortMultipart(key: string, multipartId: string): Promise<boolean> {
    try {
      await this.call('AbortMultipartUpload', () =>
        this.client.send(new AbortMultipartUploadCommand({ Bucket: this.name, Key: key, UploadId: multipartId })),
      );
      return true;
    } catch (err) {
      if (isNoSuchUpload(err) || isS3NotFound(err)) return true;
      if (isNotImplemented(err)) return false;
      throw err;
    }
  }

  async abortMultipart(key: string, multipartId: string, options: { completeIfUnsupported: boolean }): Promise<void> {
    if (await this.tryAbortMultipart(key, multipartId)) return;
    if (!options.completeIfUnsupported || (await this.size(key)) !== undefined) return;
    await this.uploadPart(key, multipartId, 1, Buffer.alloc(0))
      .then((etag) => this.completeMultipart(key, multipartId, [{ n: 1, etag, size: 0 }]))
      .catch(() => {});
  }

  /**
   * Aborts every multipart upload under `prefix`, including ones no saved state recorded (a
   * request that failed after starting one). Servers that cannot list them are skipped.
   */
  async abortAllMultipart(prefix: string): Promise<void> {
    let keyMarker: string | undefined;
    let idMarker: string | undefined;
    try {
      do {
        const page = await this.call('ListMultipartUploads', () =>
          this.client.send(
            new ListMultipartUploadsCommand({ Bucket: this.name, Prefix: prefix, KeyMarker: keyMarker, UploadIdMarker: idMarker }),
          ),
        );
        for (const u of page.Uploads ?? []) {
          if (u.Key && u.UploadId) await this.abortMultipart(u.Key, u.UploadId, { completeIfUnsupported: false });
        }
        keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
        idMarker = page.IsTruncated ? page.NextUploadIdMarker : undefined;
      } while (keyMarker);
    } catch (err) {
      if (!isNotImplemented(err)) throw err;
    }
  }
}
