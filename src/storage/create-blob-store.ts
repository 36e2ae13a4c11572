// The one place a blob store is chosen from configuration. An unknown driver cannot get here
// (config validation), and an unusable bucket stops start-up with its message.
import type { BlobStore } from './blob-store.js';
import { classifyStoreErrors } from './classified-blob-store.js';
import { FsBlobStore } from './fs/fs-blob-store.js';
import { S3BlobStore } from './s3/s3-blob-store.js';
import { createS3Client } from './s3/s3-client.js';
import { checkBucket, toStorageError } from './s3/s3-errors.js';

/** BERTH_STORAGE and the BERTH_S3_* settings, validated by config.ts. */
export type StorageConfig =
  | { driver: 'fs'; root: string }
  | {
      driver: 's3';
      bucket: string;
      endpoint: string | undefined;
      region: string;
      forcePathStyle: boolean;
      prefix: string;
      redirect: boolean;
      createBucket: boolean;
    };

export async function createBlobStore(config: StorageConfig): Promise<BlobStore> {
  switch (config.driver) {
    case 'fs':
      return new FsBlobStore(config.root);
    case 's3': {
      const client = createS3Client({ region: config.region, endpoint: config.endpoint, forcePathStyle: config.forcePathStyle });
      await checkBucket(client, config.bucket, { create: config.createBucket });
      // Whatever path an S3 failure takes out of the store, it is classified the same way.
      return classifyStoreErrors(new S3BlobStore(client, { bucket: config.bucket, prefix: config.prefix }), toStorageError);
    }
  }
}
