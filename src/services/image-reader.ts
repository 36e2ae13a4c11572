// Reads what the management API shows about an image: its manifest from PostgreSQL and its config
// blob from the BlobStore (configs are blobs like layers). Content-addressed, so never stale.
import type { Db } from '../db/pool.js';
import { findManifestInRepository } from '../db/manifests.js';
import type { StoredManifest } from '../db/manifests.js';
import { RegistryError } from '../errors/registry-error.js';
import { summarizeImageConfig, type ImageConfigSummary } from '../registry/image-config.js';
import { BlobNotFoundError, type BlobStore } from '../storage/blob-store.js';

/** Image configs are small; anything larger is not read into memory. */
const MAX_CONFIG_BYTES = 4 * 1024 * 1024;

export class ImageReader {
  constructor(
    private readonly db: Db,
    private readonly store: BlobStore,
  ) {}

  async manifest(repositoryId: number, digest: string): Promise<StoredManifest> {
    const found = await findManifestInRepository(this.db, repositoryId, digest);
    if (!found) throw new RegistryError('MANIFEST_UNKNOWN', { message: `manifest ${digest} is not in the repository`, detail: { digest } });
    return found;
  }

  /** The config blob's compared fields; BLOB_UNKNOWN when the store lacks it, undefined when it is not JSON. */
  async config(digest: string, size: number): Promise<ImageConfigSummary | undefined> {
    const bytes = await this.configBytes(digest, size);
    return bytes && summarizeImageConfig(bytes);
  }

  /** The config blob's bytes; BLOB_UNKNOWN when the store lacks it, undefined when it is too large to read. */
  async configBytes(digest: string, size: number): Promise<Buffer | undefined> {
    if (size > MAX_CONFIG_BYTES) return undefined;
    let stream;
    try {
      stream = (await this.store.read(digest, { size })).stream();
    } catch (err) {
      if (err instanceof BlobNotFoundError) {
        throw new RegistryError('BLOB_UNKNOWN', { message: `config blob ${digest} is missing from the blob store`, detail: { digest }, cause: err });
      }
      throw err;
    }
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const chunk of stream) {
      total += (chunk as Buffer).length;
      if (total > MAX_CONFIG_BYTES) {
        stream.destroy();
        return undefined;
      }
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks);
  }
}
