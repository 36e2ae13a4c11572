// Object downloads with a presigned URL: a pull's bytes through ObjectGets (http-object-send.ts,
// reused buffers written straight into the response), other reads through undici. Receiving
// through the SDK's HTTP handler (node:http) is what a streamed S3 pull cost Berth: a bare proxy
// of one 256 MiB object from s3rver used 3.5-5.0 CPU s per GiB that way and 1.4-1.8 with undici
// (220-300 against 320-400 MiB/s), and on two cores shared with the S3 server that CPU was the
// pull's limit. A small GET is no dearer (1 KiB objects: 2.2-4.5 CPU ms per GET, the SDK's
// 2.8-4.1). Only a 2xx goes this way: anything else (missing key, throttling, 5xx, an
// unreachable endpoint) is asked again through the SDK, whose retries and error mapping stay
// the one path for failures.
import type { Readable } from 'node:stream';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { Agent, request } from 'undici';
import type { BlobBody } from '../blob-store.js';
import { ObjectGets } from './http-object-send.js';
import { CONNECT_TIMEOUT_MS, SOCKET_IDLE_MS } from './s3-client.js';
/** Long enough for any retry of the request the URL is made for, short enough to leak nothing useful. */
const URL_LIFETIME_S = 300;

export class PresignedGets {
  // The SDK client's timeouts: an unreachable endpoint costs no longer here before the SDK is asked.
  private readonly agent = new Agent({
    connect: { timeout: CONNECT_TIMEOUT_MS },
    headersTimeout: SOCKET_IDLE_MS,
    bodyTimeout: SOCKET_IDLE_MS,
    connections: 256,
  });

  /** Blob pulls: the body written into the response through reused buffers (http-object-send.ts). */
  private readonly objectGets = new ObjectGets({ connectTimeoutMs: CONNECT_TIMEOUT_MS, idleTimeoutMs: SOCKET_IDLE_MS });

  constructor(private readonly client: S3Client) {}

  private sign(bucket: string, key: string, range: string | undefined): Promise<string> {
    return getSignedUrl(this.client, new GetObjectCommand({ Bucket: bucket, Key: key, Range: range }), { expiresIn: URL_LIFETIME_S });
  }

  /**
   * The object's bytes (or the range's), headers read, for writing into a response; undefined
   * when S3 did not answer 2xx with a Content-Length body: the caller then asks through the SDK.
   * An abort by `signal` is thrown as is.
   */
  async body(bucket: string, key: string, options: { range?: string | undefined; signal?: AbortSignal | undefined }): Promise<BlobBody | undefined> {
    const { range, signal } = options;
    try {
      const url = await this.sign(bucket, key, range);
      return await this.objectGets.get(url, { range, signal });
    } catch (err) {
      if (signal?.aborted) throw err;
      return undefined;
    }
  }

  /**
   * The object's bytes (or the range's) and their announced length, or undefined when S3 did not
   * answer 2xx: the caller then asks through the SDK. An abort by `signal` is thrown as is.
   */
  async get(
    bucket: string,
    key: string,
    options: { range?: string | undefined; signal?: AbortSignal | undefined },
  ): Promise<{ body: Readable; length: number | undefined } | undefined> {
    const { range, signal } = options;
    let answer: Awaited<ReturnType<typeof request>>;
    try {
      // Signing needs the credentials: a provider that fails fails again, classified, in the SDK.
      const url = await this.sign(bucket, key, range);
      answer = await request(url, { method: 'GET', headers: range ? { range } : {}, dispatcher: this.agent, signal });
    } catch (err) {
      if (signal?.aborted) throw err;
      return undefined;
    }
    if (answer.statusCode < 200 || answer.statusCode > 299) {
      // Read off (an error document is small), so the connection is kept for the next request.
      await answer.body.dump().catch(() => {});
      return undefined;
    }
    const length = Number(answer.headers['content-length']);
    return { body: answer.body, length: Number.isSafeInteger(length) ? length : undefined };
  }
}
