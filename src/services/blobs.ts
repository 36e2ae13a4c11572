// Blob reads and deletes within a repository (end-2, end-10): the link in PostgreSQL decides
// visibility, the store serves bytes.
import type pg from 'pg';
import { findLinkedBlobs, unlinkBlob } from '../db/blobs.js';
import { lookupKeyIdentity, type LookupKey } from '../db/lookup-keys.js';
import { findRepositoryId } from '../db/repositories.js';
import { RegistryError } from '../errors/registry-error.js';
import { parseDigest } from '../registry/digest.js';
import { BlobNotFoundError, type BlobContent, type BlobStore, type ByteRange } from '../storage/blob-store.js';
import { silentNotifier, type ChangeOrigin, type Notifier } from '../notify/notifier.js';
import { LookupBatcher } from './lookup-batcher.js';

/** Long enough for a client to follow the redirect, short enough not to be worth sharing. */
const REDIRECT_SECONDS = 300;

export class BlobService {
  /** Blob HEADs and GETs of one event-loop turn share a statement (see lookup-batcher.ts). */
  private readonly linked: LookupBatcher<LookupKey, { size: number }>;

  constructor(
    private readonly pool: pg.Pool,
    private readonly store: BlobStore,
    private readonly notifier: Notifier = silentNotifier,
  ) {
    this.linked = new LookupBatcher((keys) => findLinkedBlobs(pool, keys), lookupKeyIdentity);
  }

  /** The blob's size, or BLOB_UNKNOWN when the repository may not serve it. */
  async stat(repository: string, digestParam: string): Promise<{ digest: string; size: number }> {
    const { digest } = parseDigest(digestParam);
    const blob = await this.linked.load({ repository, reference: digest });
    if (!blob) throw blobUnknown(digest);
    return { digest, size: blob.size };
  }

  /**
   * The blob's bytes (or the range's), ready to go the fastest way the store has: the one read a
   * blob GET makes. `size` is the size stat() gave, so the store need not ask for it again.
   */
  async read(digest: string, options: { range: ByteRange | undefined; size: number }): Promise<BlobContent> {
    try {
      return await this.store.read(digest, options);
    } catch (err) {
      if (err instanceof BlobNotFoundError) {
        throw new RegistryError('BLOB_UNKNOWN', { message: 'blob is missing from the blob store', detail: { digest }, cause: err });
      }
      throw err;
    }
  }

  /** A short-lived URL serving the blob straight from the store, when the store has such URLs. */
  async redirectUrl(digest: string): Promise<string | undefined> {
    return this.store.presignGet?.(digest, { expiresIn: REDIRECT_SECONDS });
  }

  /** Unlinks the blob from the repository; its bytes go when no repository links them (GC). */
  async delete(repository: string, digestParam: string, origin: ChangeOrigin = { actor: 'anonymous' }): Promise<void> {
    const { digest } = parseDigest(digestParam);
    const repositoryId = await findRepositoryId(this.pool, repository);
    if (repositoryId === undefined || !(await unlinkBlob(this.pool, repositoryId, digest))) throw blobUnknown(digest);
    this.notifier.notify([{ action: 'delete', kind: 'blob', repository, digest, mediaType: 'application/octet-stream', ...origin }]);
  }
}

function blobUnknown(digest: string): RegistryError {
  return new RegistryError('BLOB_UNKNOWN', { detail: { digest } });
}
