// The start-up check of the S3 driver: the bucket must exist and answer these credentials, or be
// created when Berth is told to; otherwise start-up stops with a message that says what to fix.
import { CreateBucketCommand, HeadBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { StorageUnavailableError } from '../blob-store.js';
import { BUCKET_MISSING, errorName, isUnavailable, shape, status } from './s3-errors.js';

/**
 * Start-up check: the bucket must exist and be reachable with these credentials. A missing
 * bucket is created when `create` is set (BERTH_S3_CREATE_BUCKET=true), otherwise start-up stops
 * with a message that says what to do.
 */
export async function checkBucket(client: S3Client, bucket: string, options: { create: boolean }): Promise<'exists' | 'created'> {
  try {
    await client.send(new HeadBucketCommand({ Bucket: bucket }));
    return 'exists';
  } catch (err) {
    const code = status(err);
    const name = errorName(err);
    if (code === 404 || name === 'NotFound' || BUCKET_MISSING.has(name)) {
      if (!options.create) {
        throw new Error(
          `S3 bucket "${bucket}" does not exist; create it, or set BERTH_S3_CREATE_BUCKET=true to let Berth create it`,
          { cause: err },
        );
      }
      return createBucket(client, bucket);
    }
    if (code === 403 || code === 401) {
      throw new Error(
        `S3 bucket "${bucket}" is not accessible with the configured credentials (HTTP ${code}); check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY and the bucket policy`,
        { cause: err },
      );
    }
    if (code === 301 || code === 400) {
      throw new Error(
        `S3 bucket "${bucket}" rejected the request (HTTP ${code}); check BERTH_S3_REGION, BERTH_S3_ENDPOINT and BERTH_S3_FORCE_PATH_STYLE`,
        { cause: err },
      );
    }
    if (isUnavailable(err)) {
      const reason = shape(err).code ?? (name || 'error');
      throw new StorageUnavailableError(`S3 endpoint unreachable while checking bucket "${bucket}": ${reason}`, 5, { cause: err });
    }
    throw err;
  }
}

async function createBucket(client: S3Client, bucket: string): Promise<'created'> {
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (err) {
    // Another replica starting at the same moment may have created it first.
    const name = errorName(err);
    if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') {
      throw new Error(`could not create S3 bucket "${bucket}": ${name || String(err)}`, { cause: err });
    }
  }
  return 'created';
}
