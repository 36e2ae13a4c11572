// The BlobStore contract against the filesystem driver, in a temporary directory.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FsBlobStore } from '../../src/storage/fs/fs-blob-store.js';
import { blobStoreContract } from './blob-store.contract.js';

blobStoreContract(
  'fs',
  async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'berth-fs-contract-'));
    return {
      store: new FsBlobStore(root),
      leftovers: async () => readdir(path.join(root, '_uploads')).catch(() => []),
      close: () => rm(root, { recursive: true, force: true }),
    };
  },
  { checksOffset: false, putsWholeBlobs: true, putBlobNeedsUpload: true, readsVia: 'file' },
);
