// A BlobStore decorator that times every operation and counts failures (blob store latency and
// errors on /metrics), whatever the driver underneath. Reads are timed until the bytes are ready
// to flow: they then flow at the client's pace, which the HTTP metrics already show.
import type { Metrics } from '../metrics/metrics.js';
import { BlobNotFoundError, StorageFullError, StorageUnavailableError, type BlobStore } from './blob-store.js';

function errorKind(err: unknown): string {
  if (err instanceof BlobNotFoundError) return 'not_found';
  if (err instanceof StorageUnavailableError) return 'unavailable';
  if (err instanceof StorageFullError) return 'full';
  return (err as { name?: string } | null)?.name === 'AbortError' ? 'aborted' : 'error';
}

export function instrumentBlobStore(inner: BlobStore, metrics: Metrics): BlobStore {
  const timed = async <T>(operation: string, run: () => Promise<T>): Promise<T> => {
    const started = process.hrtime.bigint();
    const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
    try {
      const result = await run();
      metrics.storeDuration.observe({ operation, outcome: 'ok' }, seconds());
      return result;
    } catch (err) {
      metrics.storeDuration.observe({ operation, outcome: 'error' }, seconds());
      metrics.storeErrors.inc({ operation, kind: errorKind(err) });
      throw err;
    }
  };
  const store: BlobStore = {
    stagedReadsAreCheap: inner.stagedReadsAreCheap,
    ping: () => timed('ping', () => inner.ping()),
    stat: (digest) => timed('stat', () => inner.stat(digest)),
    // Labelled `open`: the name dashboards and alerts already know blob reads by.
    read: (digest, options) => timed('open', () => inner.read(digest, options)),
    delete: (digest) => timed('delete', () => inner.delete(digest)),
    createUpload: (id) => timed('create_upload', () => inner.createUpload(id)),
    appendUpload: (id, chunks, options) => timed('append_upload', () => inner.appendUpload(id, chunks, options)),
    readUpload: (id, options) => timed('read_upload', () => inner.readUpload(id, options)),
    commitUpload: (id, digest, options) => timed('commit_upload', () => inner.commitUpload(id, digest, options)),
    abortUpload: (id, state) => timed('abort_upload', () => inner.abortUpload(id, state)),
    // Listing streams for as long as the caller reads: not timed as one operation.
    listBlobs: () => inner.listBlobs(),
  };
  // Optional capabilities stay optional: callers test for them.
  if (inner.presignGet) {
    const presignGet = inner.presignGet.bind(inner);
    store.presignGet = (digest, options) => timed('presign_get', () => presignGet(digest, options));
  }
  if (inner.readStaged) {
    const readStaged = inner.readStaged.bind(inner);
    store.readStaged = (id, start) => timed('read_staged', () => readStaged(id, start));
  }
  if (inner.putBlob && inner.canPutBlob) {
    const putBlob = inner.putBlob.bind(inner);
    const canPutBlob = inner.canPutBlob.bind(inner);
    store.putBlob = (digest, chunks, options) => timed('put_blob', () => putBlob(digest, chunks, options));
    store.canPutBlob = () => canPutBlob();
  }
  return store;
}
