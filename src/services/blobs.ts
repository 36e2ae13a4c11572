// Blob reads and deletes within a repository (end-2, end-10): the link in PostgreSQL decides
// visibility, the store serves bytes.
import type { Readable } from 'node:stream';
import type pg from 'pg';
import { findLinkedBlob, unlinkBlob } from '../db/blobs.js';
import { findRepositoryId } from '../db/repositories.js';
import { RegistryError } from '../errors/registry-error.js';
import { parseDigest } from '../registry/digest.js';
import { BlobNotFoundError, type BlobStore, type ByteRange } from '../storage/blob-store.js';

export class BlobService {
  constructor(
    private readonly pool: pg.Pool,
    private readonly store: BlobStore,
  ) {}

  /** The blob's size, or BLOB_UNKNOWN when the repository may not serve it. */
  async stat(repository: string, digestParam: string): Promise<{ digest: string; size: number }> {
    const { digest } = parseDigest(digestParam);
    const blob = await findLinkedBlob(this.pool, repository, digest);
    if (!blob) throw blobUnknown(digest);
    return { digest, size: blob.size };
  }

  async open(digest: string, range: ByteRange | undefined, signal?: AbortSignal): Promise<Readable> {
    try {
      return await this.store.open(digest, { range, signal });
    } catch (err) {
      if (err instanceof BlobNotFoundError) {
        throw new RegistryError('BLOB_UNKNOWN', { message: 'blob is missing from the blob store', detail: { digest }, cause: err });
      }
      throw err;
    }
  }

  /** Unlinks the blob from the repository; its bytes go when no repository links them (GC). */
  async delete(repository: string, digestParam: string): Promise<void> {
    const { digest } = parseDigest(digestParam);
    const repositoryId = await findRepositoryId(this.pool, repository);
    if (repositoryId === undefined || !(await unlinkBlob(this.pool, repositoryId, digest))) throw blobUnknown(digest);
  }
}

function blobUnknown(digest: string): RegistryError {
  return new RegistryError('BLOB_UNKNOWN', { detail: { digest } });
}
