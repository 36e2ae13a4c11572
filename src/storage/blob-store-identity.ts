// Which blob store a configuration points at, in words a message can show, and the check that it
// is the one the registry was created with (migration 0008).
import { recordBlobStore, recordedBlobStore } from '../db/blob-store-identity.js';
import type { Db } from '../db/pool.js';
import { StartupError } from '../startup-error.js';
import type { StorageConfig } from './create-blob-store.js';

/** The settings that say where blobs live. */
interface BlobStoreSettings {
  storage: StorageConfig;
  databaseUrl?: string | undefined;
}

/**
 * With the embedded database and fs storage both live in the data directory and move together,
 * so that identity names no path; otherwise the absolute directory, or the bucket/prefix/endpoint.
 */
export function blobStoreIdentity(config: BlobStoreSettings): string {
  const s = config.storage;
  if (s.driver === 'fs') return config.databaseUrl === undefined ? 'fs in BERTH_DATA_DIR/blobs' : `fs in ${s.root}`;
  return `s3 bucket ${s.bucket}, prefix "${s.prefix}", endpoint ${s.endpoint ?? 'AWS'}`;
}

/** Throws unless the configured store is the recorded one; with `record`, a first start records it. */
export async function checkBlobStore(db: Db, config: BlobStoreSettings, options: { record: boolean }): Promise<void> {
  const configured = blobStoreIdentity(config);
  const recorded = options.record ? await recordBlobStore(db, configured) : await recordedBlobStore(db);
  if (recorded === undefined || recorded === configured) return;
  throw new StartupError(
    `this registry's blobs are in ${recorded}, but the settings point at ${configured}: run with the server's BERTH_STORAGE/BERTH_S3_*/BERTH_DATA_DIR settings`,
  );
}
