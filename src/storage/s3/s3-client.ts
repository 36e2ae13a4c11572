// Builds the S3Client the s3 blob store is given: the SDK's standard retry (throttling and 5xx
// are retried with backoff before Berth answers 503), keep-alive sockets, and checksums only
// where S3 requires them, so S3-compatible servers (MinIO, Ceph RGW, Garage, R2, s3rver) work.
import { Agent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { S3Client } from '@aws-sdk/client-s3';

export interface S3ClientOptions {
  /** BERTH_S3_REGION; `us-east-1` when unset (what most S3-compatible servers expect). */
  region?: string | undefined;
  /** BERTH_S3_ENDPOINT, e.g. http://minio:9000; unset means AWS S3. */
  endpoint?: string | undefined;
  /** BERTH_S3_FORCE_PATH_STYLE: `<endpoint>/<bucket>/<key>` instead of `<bucket>.<endpoint>/<key>`. */
  forcePathStyle?: boolean | undefined;
  /** Explicit credentials (tests); otherwise the SDK's standard chain (AWS_ACCESS_KEY_ID, …). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } | undefined;
  /** Attempts per request, the first included (SlowDown, 503, 500, timeouts, resets). */
  maxAttempts?: number | undefined;
  /** Concurrent connections to the endpoint per process. */
  maxSockets?: number | undefined;
}

/** A socket with no traffic this long is dead (a paused download stream counts as traffic-less). */
export const SOCKET_IDLE_MS = 120_000;
export const CONNECT_TIMEOUT_MS = 5_000;

const quiet = (): void => {};
const QUIET = { trace: quiet, debug: quiet, info: quiet, warn: quiet, error: quiet };

export function createS3Client(options: S3ClientOptions = {}): S3Client {
  // The SDK warns (8 lines, on every start) that its 2027 releases will need Node ≥ 22. Berth's
  // lock file pins the SDK, and the README names the Node versions Berth supports; this is the
  // SDK's own switch for that one warning, and an operator's explicit setting wins.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const agentOptions = { keepAlive: true, maxSockets: options.maxSockets ?? 256 };
  return new S3Client({
    region: options.region ?? 'us-east-1',
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    forcePathStyle: options.forcePathStyle ?? false,
    ...(options.credentials ? { credentials: options.credentials } : {}),
    retryMode: 'standard',
    maxAttempts: options.maxAttempts ?? 4,
    // The SDK's default (CRC32 on every upload, aws-chunked bodies) is not understood by many
    // S3-compatible servers; the service verifies the blob's digest anyway.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    // Without a logger the SDK writes to the console; its only message on Berth's paths is that a
    // streamed part failed, which the store retries from memory (or cancelled itself).
    logger: QUIET,
    requestHandler: {
      connectionTimeout: CONNECT_TIMEOUT_MS,
      socketTimeout: SOCKET_IDLE_MS,
      httpAgent: new Agent(agentOptions),
      httpsAgent: new HttpsAgent(agentOptions),
    },
  });
}
