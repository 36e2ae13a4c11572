// The one place a blob store is chosen from configuration: a switch over the drivers, each behind
// its one entry point. An unknown driver cannot get here (config validation), and an unusable
// bucket stops start-up with its message. The S3 driver is loaded only when configured: the AWS
// SDK it brings costs ~20 MiB of resident memory (measured: 62 MiB RSS for node with the SDK
// imported, 39 without), which an fs registry would carry for nothing.
import type { BlobStore } from './blob-store.js';
import { createFsBlobStore, type FsStoreConfig } from './fs/fs-blob-store.js';
import type { S3StoreConfig } from './s3/s3-blob-store.js';

/** BERTH_STORAGE and the BERTH_S3_* settings, validated by config.ts. */
export type StorageConfig =
  | ({ driver: 'fs' } & FsStoreConfig)
  | ({
      driver: 's3';
      /** BERTH_S3_REDIRECT: blob GETs answered with a redirect to a presigned URL (the route's choice). */
      redirect: boolean;
    } & S3StoreConfig);

export async function createBlobStore(config: StorageConfig): Promise<BlobStore> {
  switch (config.driver) {
    case 'fs':
      return createFsBlobStore(config);
    case 's3': {
      const { createS3BlobStore } = await import('./s3/s3-blob-store.js');
      return createS3BlobStore(config);
    }
  }
}
