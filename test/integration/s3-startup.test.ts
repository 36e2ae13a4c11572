// Start-up with BERTH_STORAGE=s3: a missing bucket is a clear error naming the setting that
// fixes it, or is created with BERTH_S3_CREATE_BUCKET=true; credentials come from the AWS chain.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { HeadBucketCommand } from '@aws-sdk/client-s3';
import type { StorageConfig } from '../../src/storage/create-blob-store.js';
import { createBlobStore } from '../../src/storage/create-blob-store.js';
import { S3RVER_CREDENTIALS, startS3rver, type TestS3 } from '../helpers/s3rver.js';

describe('createBlobStore with the s3 driver (start-up)', () => {
  let s3: TestS3;
  before(async () => {
    s3 = await startS3rver();
    // What an operator sets for the SDK's standard credential chain.
    process.env.AWS_ACCESS_KEY_ID = S3RVER_CREDENTIALS.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = S3RVER_CREDENTIALS.secretAccessKey;
  });
  after(() => s3.stop());

  const settings = (bucket: string, createBucket: boolean): StorageConfig => ({
    driver: 's3',
    bucket,
    endpoint: s3.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    prefix: '',
    redirect: false,
    createBucket,
  });

  it('stops with a message naming BERTH_S3_CREATE_BUCKET when the bucket does not exist', async () => {
    await assert.rejects(createBlobStore(settings('no-such-bucket', false)), /does not exist.*BERTH_S3_CREATE_BUCKET=true/);
  });

  it('creates the missing bucket when asked to, and then serves from it', async () => {
    const store = await createBlobStore(settings('created-at-start', true));
    await s3.client.send(new HeadBucketCommand({ Bucket: 'created-at-start' }));
    assert.equal(await store.stat(`sha256:${'0'.repeat(64)}`), undefined);
  });

  it('uses an existing bucket as it is', async () => {
    const store = await createBlobStore(settings(s3.bucket, false));
    assert.equal(store.stagedReadsAreCheap, false);
  });
});
