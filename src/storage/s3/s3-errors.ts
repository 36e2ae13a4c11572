// What an S3 error means to Berth: a missing object, a missing multipart upload, a feature the
// server lacks, or storage that is unavailable right now (→ 503 + Retry-After).
import { StorageFullError, StorageUnavailableError } from '../blob-store.js';

interface SdkErrorShape {
  name?: string;
  code?: string;
  Code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
}

export function shape(err: unknown): SdkErrorShape {
  return typeof err === 'object' && err !== null ? (err as SdkErrorShape) : {};
}

export function status(err: unknown): number | undefined {
  return shape(err).$metadata?.httpStatusCode;
}

export function errorName(err: unknown): string {
  const e = shape(err);
  return e.Code ?? e.name ?? '';
}

/** Names S3 (and MinIO, Ceph RGW, Garage, R2) give a missing bucket; never a missing blob. */
export const BUCKET_MISSING = new Set(['NoSuchBucket']);

/** A missing object: GetObject says NoSuchKey, HeadObject (no body) a bare 404 / NotFound. */
export function isS3NotFound(err: unknown): boolean {
  const name = errorName(err);
  if (BUCKET_MISSING.has(name) || name === 'NoSuchUpload') return false;
  return name === 'NoSuchKey' || name === 'NotFound' || status(err) === 404;
}

/** The multipart upload is gone: aborted, completed, or expired by a lifecycle rule. */
export function isNoSuchUpload(err: unknown): boolean {
  return errorName(err) === 'NoSuchUpload';
}

/**
 * The server does not implement the request (s3rver lacks UploadPartCopy and
 * AbortMultipartUpload; some gateways lack CopyObject): the caller takes a slower path.
 */
export function isNotImplemented(err: unknown): boolean {
  const name = errorName(err);
  const code = status(err);
  return name === 'NotImplemented' || name === 'MethodNotAllowed' || code === 501 || code === 405;
}

/** Throttling and server-side trouble: retryable by the client, so 503 rather than 500. */
const UNAVAILABLE_NAMES = new Set([
  'SlowDown',
  'ServiceUnavailable',
  'InternalError',
  'RequestTimeout',
  'RequestTimeTooSkewed',
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'BandwidthLimitExceeded',
  'TimeoutError',
  'NoSuchBucket',
]);

/** Errors of the socket below the SDK: nobody listening, no route, no answer in time, cut short. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EAI_FAIL',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ECONNABORTED',
  'ESOCKETTIMEDOUT',
]);

/** undici's and the SDK's names for the same failures, where they carry no errno code. */
const NETWORK_NAMES = new Set([
  'TimeoutError',
  'SocketError',
  'ConnectTimeoutError',
  'HeadersTimeoutError',
  'BodyTimeoutError',
  'ClientClosedError',
  'ClientDestroyedError',
  'RequestAbortedError',
]);

/** S3 servers' answers for a full disk or a used-up quota (MinIO, Ceph RGW), besides HTTP 507. */
const NO_SPACE_NAMES = new Set(['XMinioStorageFull', 'XMinioBucketQuotaExceeded', 'XMinioAdminBucketQuotaExceeded', 'QuotaExceeded', 'InsufficientStorage']);

/** The IncomingMessage error of a client that hung up mid-body: not the storage's doing. */
function isClientAbort(e: SdkErrorShape): boolean {
  return e.code === 'ECONNRESET' && e.message === 'aborted';
}

/** Each error of the `cause` chain, outermost first (the SDK and undici wrap the socket's error). */
function* causes(err: unknown): Generator<SdkErrorShape> {
  for (let e = err, depth = 0; typeof e === 'object' && e !== null && depth < 6; e = (e as { cause?: unknown }).cause, depth++) {
    yield e as SdkErrorShape;
  }
}

/**
 * Whether the request never got a whole answer from S3: refused, reset, timed out, a name that
 * did not resolve, a socket closed mid-body (undici's UND_ERR_*), or an SDK error with no HTTP
 * status at all. After the SDK's retries, every one of these is "unavailable now".
 */
export function isTransportError(err: unknown): boolean {
  for (const e of causes(err)) {
    if (isClientAbort(e)) return false;
    if (typeof e.code === 'string' && (NETWORK_CODES.has(e.code) || e.code.startsWith('UND_ERR_'))) return e.code !== 'UND_ERR_ABORTED';
    if (e.name !== undefined && NETWORK_NAMES.has(e.name)) return true;
    if (/socket hang up|other side closed|^terminated$|ECONNREFUSED|ETIMEDOUT|ECONNRESET|object server (closed|timed out)/.test(e.message ?? '')) return true;
  }
  const e = shape(err);
  return e.$metadata !== undefined && e.$metadata.httpStatusCode === undefined;
}

/** The S3 server has no room: HTTP 507, or a quota / storage-full code. */
export function isS3NoSpace(err: unknown): boolean {
  return status(err) === 507 || NO_SPACE_NAMES.has(errorName(err));
}

/** Whether the error says "storage is unavailable now", as opposed to a bug or a bad request. */
export function isUnavailable(err: unknown): boolean {
  const e = shape(err);
  const name = errorName(err);
  if (UNAVAILABLE_NAMES.has(name) || UNAVAILABLE_NAMES.has(e.name ?? '')) return true;
  const code = status(err);
  if (code !== undefined && code >= 500 && code !== 501) return true;
  if (code === 429 || code === 503) return true;
  return isTransportError(err);
}

/**
 * The error to throw on: StorageFullError when the server has no room, StorageUnavailableError
 * for throttling, 5xx and every transport failure (the SDK has already retried those),
 * otherwise the original error.
 */
export function toStorageError(err: unknown, what: string): unknown {
  if (err instanceof StorageUnavailableError || err instanceof StorageFullError) return err;
  if (shape(err).name === 'AbortError') return err;
  if (isS3NoSpace(err)) {
    return new StorageFullError(`S3 storage has no room during ${what}: ${errorName(err) || `HTTP ${status(err)}`}`, { cause: err });
  }
  if (isUnavailable(err)) {
    const reason = errorName(err) || shape(err).code || 'error';
    return new StorageUnavailableError(`S3 storage unavailable during ${what}: ${reason}`, retryAfterFor(err), { cause: err });
  }
  return err;
}

/** Throttling asks for a longer pause than a brief outage. */
function retryAfterFor(err: unknown): number {
  const name = errorName(err);
  return name === 'SlowDown' || status(err) === 429 || name.startsWith('Throttl') ? 10 : 5;
}
